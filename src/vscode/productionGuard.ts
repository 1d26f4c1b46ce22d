// Production guard: before the first change on a production connection in a session, the operator types the connection's name.
import type { Prompts } from './prompts';

/**
 * Asks the operator to type `connection` to go on (the pattern GitHub uses before deleting a
 * repository: typing the name proves the operator read which database this is).
 * `what` says what is about to happen, e.g. `cell 4 (add-column) changes PRODUCTION (prod-main)`.
 * Resolves the text typed (the run goes on only when it is the exact name), undefined when dismissed.
 */
export async function askProductionName(prompts: Prompts, connection: string, what: string): Promise<string | undefined> {
  return prompts.input({
    title: `PRODUCTION: ${connection}`,
    prompt: `${what}. Type the connection name "${connection}" to run it.`,
    placeHolder: connection,
    ignoreFocusOut: true,
    validateInput: (v) => (v === '' || v === connection ? undefined : `Type exactly: ${connection}`),
  });
}
