// What can go wrong talking to a language model, one class per way, so callers decide by type:
// a budget stops the caller, a bad answer is counted, a broken endpoint fails the job.

export class LmError extends Error {
  override name = "LmError";
}

/** The client's configuration is unusable (a missing API key variable, a bad URL); names the field. */
export class LmConfigError extends LmError {
  override name = "LmConfigError";
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** The request budget is spent: no further request is made. */
export class LmBudgetError extends LmError {
  override name = "LmBudgetError";
  constructor(
    readonly budget: number,
    endpoint: string,
  ) {
    super(`LM request budget of ${budget} used up (${endpoint}): no further requests are made`);
  }
}

/** An HTTP error status, after the retries a retryable one (429, 5xx) was given. */
export class LmHttpError extends LmError {
  override name = "LmHttpError";
  constructor(
    readonly status: number,
    readonly attempts: number,
    endpoint: string,
    detail: string,
  ) {
    super(`${endpoint}: HTTP ${status} after ${attempts} attempt(s)${detail ? `: ${detail}` : ""}`);
  }
}

/** No answer within the timeout (or the connection failed), after the retries. */
export class LmTimeoutError extends LmError {
  override name = "LmTimeoutError";
  constructor(
    readonly attempts: number,
    endpoint: string,
    detail: string,
  ) {
    super(`${endpoint}: ${detail} after ${attempts} attempt(s)`);
  }
}

/** A 200 answer that is not a chat completion (malformed JSON, no choices, no message text). */
export class LmResponseError extends LmError {
  override name = "LmResponseError";
  constructor(endpoint: string, detail: string) {
    super(`${endpoint}: not a chat completion: ${detail}`);
  }
}
