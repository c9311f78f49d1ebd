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

/// The items of a paged listing: pages of at most 1,000 asked for with `page` (size, token
/// of the previous page's end) until the server gives no next token or `limit` are in hand.
func fetchPages<Item>(limit: Int?, _ page: (_ size: Int32, _ token: String) async throws -> (items: [Item], next: String)) async throws -> [Item] {
  var items: [Item] = []
  var token = ""
  repeat {
    let wanted = limit.map { min(1000, $0 - items.count) } ?? 1000
    let (more, next) = try await page(Int32(wanted), token)
    items += more
    token = next
  } while !token.isEmpty && items.count < (limit ?? .max)
  return items
}
