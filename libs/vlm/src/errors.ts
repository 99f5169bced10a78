/**
 * Input the model cannot take (bad sampling options, a prompt or answer too long for the model,
 * frames of the wrong shape). The message starts with the offending field; servers answer it as
 * INVALID_ARGUMENT, while any other error is a fault of the server.
 */
export class InputError extends Error {
  override name = "InputError";
}
