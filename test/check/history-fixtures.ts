import type { Operation } from "../../src/check/index.ts";

/** `op(client, call, ret, input, output)`; ret `null` means the outcome is unknown. */
export function op<I, O>(
  clientId: number,
  call: number,
  ret: number | null,
  input: I,
  output?: O,
): Operation<I, O> {
  return ret === null
    ? { clientId, input, call, output: undefined, ret: Number.POSITIVE_INFINITY }
    : { clientId, input, call, output, ret };
}
