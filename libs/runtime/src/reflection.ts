// gRPC server reflection v1 over the generated descriptors, so grpcurl / `buf curl` / Postman can
// list and call services without local .proto files. No reflection package for connect-node exists,
// and the protocol is small: list services, and look files up by name or by symbol. v1alpha, which
// older grpcurl, grpcui and Postman still ask, has the same messages under another package: its
// requests and answers go through the v1 implementation by their (identical) wire form.
import { create, fromBinary, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { reflection, reflectionV1alpha } from "@isrdpo/contracts";

/** Every file a set of services needs: their own files and all transitive imports. */
function collectFiles(services: DescService[]): Map<string, DescFile> {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    file.dependencies.forEach(visit);
  };
  for (const service of services) visit(service.file);
  return files;
}

/** Fully qualified symbol → defining file (messages, enums, services, methods, nested types). */
function indexSymbols(files: Iterable<DescFile>): Map<string, DescFile> {
  const symbols = new Map<string, DescFile>();
  for (const file of files) {
    for (const type of nestedTypes(file)) {
      symbols.set(type.typeName, file);
      if (type.kind === "service") {
        for (const method of type.methods) symbols.set(`${type.typeName}.${method.name}`, file);
      }
    }
  }
  return symbols;
}

/** The file and its transitive dependencies, serialized, dependencies first. */
function fileWithDependencies(file: DescFile): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    f.dependencies.forEach(visit);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
  };
  visit(file);
  return out;
}

export function registerReflection(router: ConnectRouter, services: DescService[]): void {
  const all = [...services, reflection.ServerReflection, reflectionV1alpha.ServerReflection];
  const files = collectFiles(all);
  const symbols = indexSymbols(files.values());
  const serviceNames = all.map((s) => s.typeName);

  const answer = (req: reflection.ServerReflectionRequest): reflection.ServerReflectionResponse => {
    const base = { validHost: req.host, originalRequest: req };
    const found = (file: DescFile | undefined, what: string) =>
      file
        ? create(reflection.ServerReflectionResponseSchema, {
            ...base,
            messageResponse: {
              case: "fileDescriptorResponse",
              value: { fileDescriptorProto: fileWithDependencies(file) },
            },
          })
        : create(reflection.ServerReflectionResponseSchema, {
            ...base,
            messageResponse: { case: "errorResponse", value: { errorCode: 5, errorMessage: `${what} not found` } },
          });
    const request = req.messageRequest;
    switch (request.case) {
      case "listServices":
        return create(reflection.ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } },
        });
      case "fileByFilename":
        return found(files.get(request.value), `file "${request.value}"`);
      case "fileContainingSymbol":
        return found(symbols.get(request.value.replace(/^\./, "")), `symbol "${request.value}"`);
      case "allExtensionNumbersOfType":
        // None of our messages declare extension ranges.
        return create(reflection.ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: [] } },
        });
      default:
        return create(reflection.ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: "errorResponse", value: { errorCode: 12, errorMessage: "request kind not supported" } },
        });
    }
  };

  router.service(reflection.ServerReflection, {
    serverReflectionInfo: async function* (requests) {
      for await (const req of requests) yield answer(req);
    },
  });
  router.service(reflectionV1alpha.ServerReflection, {
    serverReflectionInfo: async function* (requests) {
      for await (const req of requests) {
        const v1 = fromBinary(reflection.ServerReflectionRequestSchema, toBinary(reflectionV1alpha.ServerReflectionRequestSchema, req));
        yield fromBinary(reflectionV1alpha.ServerReflectionResponseSchema, toBinary(reflection.ServerReflectionResponseSchema, answer(v1)));
      }
    },
  });
}
