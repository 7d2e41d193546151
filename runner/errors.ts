/** Closed set of the runner's error codes. */
export type RunnerErrorCode =
  | 'ERR_STEP_FAILED'
  | 'ERR_STEP_TIMEOUT'
  | 'ERR_UNKNOWN_REFERENCE'
  | 'ERR_UNKNOWN_STEP'
  | 'ERR_UNKNOWN_CHECK'
  | 'ERR_SERVER_UNREACHABLE'
  | 'ERR_NOT_MCP'
  | 'ERR_OPTIONS'
  /** A step found that the case cannot apply to this server (the case is skipped with the reason). */
  | 'ERR_NOT_APPLICABLE';

export class RunnerError extends Error {
  readonly code: RunnerErrorCode;
  constructor(code: RunnerErrorCode, message: string) {
    super(message);
    this.name = 'RunnerError';
    this.code = code;
  }
}
