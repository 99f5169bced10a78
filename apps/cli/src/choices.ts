// Option choices the command definitions show in --help, without loading the contracts.
export const DEMO_PRESET_NAMES = ["test", "small"] as const;
export const CONTEXT_MODE_NAMES = ["none", "fixed", "renew", "retrospective", "clip-narrative"] as const;
/** The built judge strategies; caption-proxy asks the built-in policy, text only, about reference captions. */
export const JUDGE_NAMES = ["self", "self-verify", "self-likelihood", "oracle", "caption-proxy", "self-critique"] as const;
export const OUTPUT_FORMATS = ["text", "json"] as const;
/** Seconds `run watch` keeps reconnecting to a server that went away, after the last contact. */
export const RECONNECT_TIMEOUT_S = 300;
