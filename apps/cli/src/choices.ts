// Option choices the command definitions show in --help, without loading the contracts.
export const DEMO_PRESET_NAMES = ["test", "small"] as const;
export const CONTEXT_MODE_NAMES = ["none", "fixed", "renew", "retrospective", "clip-narrative"] as const;
export const JUDGE_NAMES = ["self", "self-verify", "self-likelihood", "oracle"] as const;
export const OUTPUT_FORMATS = ["text", "json"] as const;
