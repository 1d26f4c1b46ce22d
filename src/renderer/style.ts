// CSS of the result renderer, in VS Code's theme colours (--vscode-* variables are defined inside notebook webviews).

/** Injected once per rendered output (outputs live in separate shadow-free containers of one webview). */
export const STYLE = `
.rb-output { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); color: var(--vscode-foreground); }
.rb-head { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: baseline; margin: 2px 0 6px; }
.rb-meta { color: var(--vscode-descriptionForeground); }
.rb-status { font-weight: 600; text-transform: uppercase; font-size: 0.85em; padding: 0 6px; border-radius: 3px; }
.rb-ok { color: var(--vscode-testing-iconPassed, #73c991); }
.rb-error, .rb-status.rb-error { color: var(--vscode-errorForeground); }
.rb-cancelled, .rb-skipped, .rb-running { color: var(--vscode-editorWarning-foreground); }
.rb-env { font-size: 0.85em; padding: 0 6px; border-radius: 3px; border: 1px solid var(--vscode-descriptionForeground); }
.rb-env-production { background: var(--vscode-statusBarItem-errorBackground, #c72e0f); color: var(--vscode-statusBarItem-errorForeground, #fff); border-color: transparent; font-weight: 700; }
.rb-env-staging { background: var(--vscode-statusBarItem-warningBackground, #7a6400); color: var(--vscode-statusBarItem-warningForeground, #fff); border-color: transparent; }
div.rb-error { border-left: 3px solid var(--vscode-errorForeground); padding: 4px 8px; margin: 4px 0; background: var(--vscode-inputValidation-errorBackground, transparent); }
.rb-error-msg { font-weight: 600; }
.rb-stmts { margin: 4px 0; }
.rb-items { margin: 2px 0; padding-left: 1.2em; list-style: none; }
.rb-stmts ol { margin: 2px 0; padding-left: 2em; }
.rb-notice { color: var(--vscode-editorWarning-foreground); white-space: pre-wrap; }
.rb-table { margin: 6px 0; }
.rb-scroll { overflow: auto; max-height: 480px; }
.rb-table table { border-collapse: collapse; }
.rb-table th, .rb-table td { border: 1px solid var(--vscode-editorWidget-border, #8884); padding: 2px 8px; text-align: left; vertical-align: top; white-space: pre-wrap; }
.rb-table th { position: sticky; top: 0; background: var(--vscode-editor-background); font-weight: 600; }
.rb-table .rb-num { text-align: right; font-variant-numeric: tabular-nums; }
.rb-null { color: var(--vscode-descriptionForeground); font-style: italic; font-size: 0.85em; }
.rb-more { margin-left: 4px; background: none; border: none; color: var(--vscode-textLink-foreground); cursor: pointer; padding: 0; font: inherit; }
.rb-foot { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: center; margin-top: 4px; }
.rb-warn { color: var(--vscode-editorWarning-foreground); }
.rb-copy { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground); border: none; padding: 1px 8px; border-radius: 2px; cursor: pointer; font: inherit; font-size: 0.9em; }
.rb-copy:hover { background: var(--vscode-button-secondaryHoverBackground); }
.rb-text { margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; font-family: var(--vscode-editor-font-family); }
.rb-error-msg, .rb-error div, .rb-notice, .rb-warn { white-space: pre-wrap; overflow-wrap: anywhere; }
.rb-time { cursor: help; text-decoration: underline dotted; }
.rb-checklist { margin: 6px 0; display: flex; flex-direction: column; gap: 4px; }
.rb-check { display: flex; gap: 0.5em; align-items: baseline; cursor: pointer; }
.rb-check input { cursor: pointer; }
.rb-stop { align-self: flex-start; margin-top: 4px; }
.rb-live { margin: 6px 0; border-left: 3px solid var(--vscode-editorWarning-foreground); padding: 2px 8px; }
.rb-live-title { font-weight: 600; }
.rb-monitor-rows { border-collapse: collapse; margin-top: 2px; }
.rb-monitor-rows th { text-align: left; font-weight: normal; color: var(--vscode-descriptionForeground); padding: 0 1em 0 0; vertical-align: top; white-space: nowrap; }
.rb-monitor-rows td { padding: 0; text-align: left; white-space: pre-wrap; overflow-wrap: anywhere; }
`;
