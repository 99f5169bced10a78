// The status of an RPC that must fail: its code and raw message (throws if the call succeeded).
import { type Code, ConnectError } from "@connectrpc/connect";

export async function status(call: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error("the call succeeded");
}
