import FidelisProto
import Foundation
import GRPCCore
import SwiftProtobuf

/// An error printed as one line on stderr, with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}

func printJSON(_ message: some SwiftProtobuf.Message) throws {
  var options = JSONEncodingOptions()
  options.preserveProtoFieldNames = true
  print(try message.jsonString(options: options))
}

func stderr(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}

func writeOutput(_ data: Data, to path: String?) throws {
  if let path {
    try data.write(to: URL(fileURLWithPath: path))
    stderr("wrote \(path) (\(data.count) bytes)")
  } else {
    FileHandle.standardOutput.write(data)
  }
}
