// NotebookSerializer for `.runbook` files: bytes ⇄ NotebookData through src/format/ (outputs are saved, not transient).
import * as vscode from 'vscode';
import { parseRunbook, serializeRunbookBytes } from '../format';
import { fromNotebookData, toNotebookData } from './notebookData';

/** The notebook type declared in package.json (`contributes.notebooks`). */
export const NOTEBOOK_TYPE = 'runbook';

/**
 * Reads and writes `.runbook` files. Opening then saving an untouched file gives back its bytes:
 * every cell's original text travels in its metadata (notebookData.ts), and the format writes an
 * unedited cell or output from that text.
 */
export class RunbookSerializer implements vscode.NotebookSerializer {
  deserializeNotebook(content: Uint8Array): vscode.NotebookData {
    return toNotebookData(parseRunbook(content));
  }

  serializeNotebook(data: vscode.NotebookData): Uint8Array {
    return serializeRunbookBytes(fromNotebookData(data));
  }
}

/**
 * Registers the serializer. Outputs are part of the file (the migration log), so they are not
 * transient: running a cell makes the notebook dirty and saving writes the output.
 * Source: VS Code API, `workspace.registerNotebookSerializer`, `NotebookDocumentContentOptions`.
 */
export function registerSerializer(): vscode.Disposable {
  return vscode.workspace.registerNotebookSerializer(NOTEBOOK_TYPE, new RunbookSerializer(), {
    transientOutputs: false,
    transientCellMetadata: { breakpointMargin: true },
    transientDocumentMetadata: {},
  });
}
