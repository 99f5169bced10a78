// Generated protobuf code (protoc-gen-es v2, `buf generate`); never edited by hand.
export * from "./gen/isrdpo/v1/common_pb.ts";
export * from "./gen/isrdpo/v1/run_pb.ts";
export * from "./gen/isrdpo/v1/inference_pb.ts";
export * from "./gen/isrdpo/v1/context_pb.ts";
export * from "./gen/isrdpo/v1/judge_pb.ts";
export * from "./gen/isrdpo/v1/trainer_pb.ts";
export * from "./gen/isrdpo/v1/evaluator_pb.ts";
export * from "./gen/isrdpo/v1/bus_pb.ts";
export * from "./gen/isrdpo/v1/orchestration_pb.ts";
export * from "./gen/isrdpo/v1/artifact_pb.ts";
export * as health from "./gen/grpc/health/v1/health_pb.ts";
export * as reflection from "./gen/grpc/reflection/v1/reflection_pb.ts";
export * as reflectionV1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.ts";
