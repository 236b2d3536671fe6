/**
 * The steps of a rollback that can take a while (a Job, a port-forward, helm against a slow API
 * server, a down), told as they start and end so that the CLI can show progress. The core only
 * says what runs; how it is shown (a spinner on a terminal, timestamped lines in a CI log) and how
 * long it took are the CLI's business.
 */
export type StepEvent =
  | { type: 'step:start'; step: string }
  /** detail: what the step found or left, said after its name (e.g. "verified at 8"). */
  | { type: 'step:end'; step: string; outcome: 'ok' | 'failed'; detail?: string };

export type StepListener = (e: StepEvent) => void;

/**
 * Runs `work` as the named step: a start, then an end that is "failed" when it throws (the error
 * goes on) or when `judge` says so (a step whose failure is a finding kept for the plan, such as
 * the hand-off check's refusal).
 */
export async function inStep<T>(
  listener: StepListener | undefined,
  step: string,
  work: () => Promise<T>,
  judge?: (result: T) => { ok?: boolean; detail?: string },
): Promise<T> {
  listener?.({ type: 'step:start', step });
  let result: T;
  try {
    result = await work();
  } catch (err) {
    listener?.({ type: 'step:end', step, outcome: 'failed' });
    throw err;
  }
  const verdict = judge?.(result) ?? {};
  listener?.({ type: 'step:end', step, outcome: verdict.ok === false ? 'failed' : 'ok', ...(verdict.detail ? { detail: verdict.detail } : {}) });
  return result;
}
