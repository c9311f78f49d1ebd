import FidelisProto
import Foundation
import GRPCCore
import SwiftProtobuf

/// The standard grpc.reflection.v1 service: the services a listener offers and the
/// descriptors of the files that define them (from `fidelisFileDescriptorSet`, generated
/// with the code), so that grpcurl and the libraries' reflection clients call the API
/// without its .proto files. Like health, it needs no key: it tells what proto/ tells.
struct ReflectionService: Sendable {
  /// Fully qualified names of the services on this listener, reflection (both names) included.
  let services: [String]
  let descriptors: DescriptorIndex

  init(services: [ServiceDescriptor]) throws {
    self.services = (services + [Grpc_Reflection_V1_ServerReflection.descriptor, Grpc_Reflection_V1alpha_ServerReflection.descriptor])
      .map(\.fullyQualifiedService).sorted()
    descriptors = try DescriptorIndex(fidelisFileDescriptorSet)
  }

  /// The answer to one request.
  func answer(_ request: Grpc_Reflection_V1_ServerReflectionRequest) -> Grpc_Reflection_V1_ServerReflectionResponse {
    .with {
      $0.validHost = request.host
      $0.originalRequest = request
      switch request.messageRequest {
      case .listServices:
        $0.listServicesResponse = .with { list in list.service = services.map { name in .with { $0.name = name } } }
      case .fileByFilename(let name):
        $0.messageResponse = files(descriptors.files[name] == nil ? nil : name, missing: "no file '\(name)'")
      case .fileContainingSymbol(let symbol):
        // A leading dot, as in a field's type name, means the same symbol.
        let name = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
        $0.messageResponse = files(descriptors.fileOfSymbol[name], missing: "no symbol '\(symbol)'")
      case .fileContainingExtension(let request):
        // These files declare no extension.
        $0.errorResponse = error(.notFound, "no extension \(request.extensionNumber) of '\(request.containingType)'")
      case .allExtensionNumbersOfType(let type):
        if descriptors.messages.contains(type) {
          $0.allExtensionNumbersResponse = .with { $0.baseTypeName = type }
        } else {
          $0.errorResponse = error(.notFound, "no message type '\(type)'")
        }
      case nil:
        $0.errorResponse = error(.invalidArgument, "the request asks for nothing: set one of its message_request fields")
      }
    }
  }

  /// The file named, then every file it imports, each once; an error when there is none.
  private func files(_ name: String?, missing: String) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
    guard let name else { return .errorResponse(error(.notFound, missing)) }
    return .fileDescriptorResponse(.with { $0.fileDescriptorProto = descriptors.withImports(name) })
  }

  private func error(_ code: RPCError.Code, _ message: String) -> Grpc_Reflection_V1_ErrorResponse {
    .with {
      $0.errorCode = Int32(code.rawValue)
      $0.errorMessage = message
    }
  }
}

extension ReflectionService: Grpc_Reflection_V1_ServerReflection.ServiceProtocol {
  func serverReflectionInfo(
    request: StreamingServerRequest<Grpc_Reflection_V1_ServerReflectionRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Reflection_V1_ServerReflectionResponse> {
    let reflection = self
    return StreamingServerResponse { writer in
      for try await message in request.messages { try await writer.write(reflection.answer(message)) }
      return [:]
    }
  }
}

/// The same service under its earlier name, grpc.reflection.v1alpha, which many clients
/// ask first or only (Python's grpcio-reflection): its messages are v1's on the wire, so
/// each request is read as v1's and each answer written back as v1alpha's.
struct ReflectionServiceV1Alpha: Sendable {
  let reflection: ReflectionService
}

extension ReflectionServiceV1Alpha: Grpc_Reflection_V1alpha_ServerReflection.ServiceProtocol {
  func serverReflectionInfo(
    request: StreamingServerRequest<Grpc_Reflection_V1alpha_ServerReflectionRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Reflection_V1alpha_ServerReflectionResponse> {
    let reflection = self.reflection
    return StreamingServerResponse { writer in
      for try await message in request.messages {
        let asked = try Grpc_Reflection_V1_ServerReflectionRequest(serializedBytes: try message.serializedBytes() as [UInt8])
        try await writer.write(try Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: try reflection.answer(asked).serializedBytes() as [UInt8]))
      }
      return [:]
    }
  }
}

/// The files of a descriptor set by name, and where each symbol is defined.
struct DescriptorIndex: Sendable {
  /// Each file's serialized descriptor and the files it imports.
  private(set) var files: [String: (descriptor: Data, imports: [String])] = [:]
  /// The file of each fully qualified service, method, message (nested ones too) and enum.
  private(set) var fileOfSymbol: [String: String] = [:]
  /// The fully qualified message types.
  private(set) var messages: Set<String> = []

  init(_ serializedSet: Data) throws {
    for file in try Google_Protobuf_FileDescriptorSet(serializedBytes: serializedSet).file {
      files[file.name] = (try file.serializedBytes(), file.dependency)
      let prefix = file.package.isEmpty ? "" : file.package + "."
      for service in file.service {
        fileOfSymbol[prefix + service.name] = file.name
        for method in service.method { fileOfSymbol[prefix + service.name + "." + method.name] = file.name }
      }
      for message in file.messageType { add(message, prefix: prefix, file: file.name) }
      for type in file.enumType { fileOfSymbol[prefix + type.name] = file.name }
    }
  }

  private mutating func add(_ message: Google_Protobuf_DescriptorProto, prefix: String, file: String) {
    let name = prefix + message.name
    fileOfSymbol[name] = file
    messages.insert(name)
    for nested in message.nestedType { add(nested, prefix: name + ".", file: file) }
    for type in message.enumType { fileOfSymbol[name + "." + type.name] = file }
  }

  /// The descriptor of `name`, then those of the files it imports, directly or not, each once.
  func withImports(_ name: String) -> [Data] {
    var order: [String] = []
    var pending = [name]
    while let next = pending.popLast() {
      guard !order.contains(next), let file = files[next] else { continue }
      order.append(next)
      pending += file.imports.reversed()
    }
    return order.compactMap { files[$0]?.descriptor }
  }
}
