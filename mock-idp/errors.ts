/** Closed set of error codes raised by the mock IdP's programmatic API. */
export type MockIdpErrorCode =
  | 'ERR_PERSONAS_INVALID'
  | 'ERR_UNKNOWN_PROVIDER'
  | 'ERR_UNKNOWN_PERSONA'
  | 'ERR_FAULT_INVALID'
  | 'ERR_NOT_STARTED'
  | 'ERR_PROXY';

export class MockIdpError extends Error {
  readonly code: MockIdpErrorCode;
  constructor(code: MockIdpErrorCode, message: string) {
    super(message);
    this.name = 'MockIdpError';
    this.code = code;
  }
}
