import FidelisProto
import Foundation
import GRPCCore
import SwiftProtobuf
import Testing

@testable import Server

/// What reflection answers, from the descriptor set generated with the code.
@Suite("Server reflection")
struct ReflectionTests {
  let reflection = try! ReflectionService(services: [Fidelis_V1_JobService.descriptor, Grpc_Health_V1_Health.descriptor])

  func ask(_ fill: (inout Grpc_Reflection_V1_ServerReflectionRequest) -> Void) -> Grpc_Reflection_V1_ServerReflectionResponse {
    reflection.answer(.with(fill))
  }

  func fileNames(_ response: Grpc_Reflection_V1_ServerReflectionResponse) throws -> [String] {
    try response.fileDescriptorResponse.fileDescriptorProto.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name }
  }

  @Test("the services offered, both reflection names included, sorted")
  func services() {
    #expect(ask { $0.listServices = "" }.listServicesResponse.service.map(\.name) == [
      "fidelis.v1.JobService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
    ])
  }

  @Test("a file by a service, a method, a nested type or its name; unknown names are NOT_FOUND", arguments: [
    "fidelis.v1.JobService", "fidelis.v1.JobService.SubmitJob", ".fidelis.v1.JobState", "fidelis.v1.Job", "fidelis.v1.TenantLimits",
  ])
  func symbols(symbol: String) throws {
    #expect(try fileNames(ask { $0.fileContainingSymbol = symbol }) == ["fidelis/v1/fidelis.proto"])
    #expect(try fileNames(ask { $0.fileByFilename = "grpc/reflection/v1/reflection.proto" }) == ["grpc/reflection/v1/reflection.proto"])
    #expect(ask { $0.fileContainingSymbol = symbol + "Nope" }.errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
    #expect(ask { $0.fileByFilename = "nope.proto" }.errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
  }

  @Test("extensions: none declared; a request that asks nothing is INVALID_ARGUMENT")
  func extensionsAndEmpty() {
    #expect(ask { $0.allExtensionNumbersOfType = "fidelis.v1.Job" }.allExtensionNumbersResponse.baseTypeName == "fidelis.v1.Job")
    #expect(ask { $0.allExtensionNumbersOfType = "fidelis.v1.Nope" }.errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
    #expect(ask { $0.fileContainingExtension = .with { $0.containingType = "fidelis.v1.Job"; $0.extensionNumber = 100 } }.errorResponse.errorCode == 5)
    #expect(ask { $0.host = "h" }.errorResponse.errorCode == Int32(RPCError.Code.invalidArgument.rawValue))
    #expect(ask { $0.host = "h" }.validHost == "h")
  }
}
