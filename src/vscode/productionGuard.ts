// Production guard: before the first change on a production connection in a session, the operator types the connection's name.
import type { Prompts } from './prompts';

/**
 * Asks the operator to type `connection` to go on (the pattern GitHub uses before deleting a
 * repository: typing the name proves the operator read which database this is).
 * `what` says what is about to happen, e.g. `cell 4 "add-column" changes data or schema`.
 * Resolves true only when the exact name was typed; false when dismissed.
 */
export async function confirmProduction(prompts: Prompts, connection: string, what: string): Promise<boolean> {
  const typed = await prompts.input({
    title: `PRODUCTION: ${connection}`,
    prompt: `${what} on the production connection "${connection}". Type the connection name to run it.`,
    placeHolder: connection,
    ignoreFocusOut: true,
    validateInput: (v) => (v === '' || v === connection ? undefined : `Type exactly: ${connection}`),
  });
  return typed === connection;
}
