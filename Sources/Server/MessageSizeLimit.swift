import NIOCore
import NIOHPACK
import NIOHTTP2

/// Answers a request message over the size limit with the status gRPC prescribes for it,
/// RESOURCE_EXHAUSTED and a message, instead of the bare stream reset (CANCELLED, no
/// message) of the transport's own check.
///
/// Placed first on each HTTP/2 stream, it reads the 5-byte prefix of every gRPC message
/// (a flag and the length) as DATA frames pass; a message announced longer than the limit
/// is answered at once with trailers and the rest of the stream is dropped (closing the
/// stream as well would reset it before the client reads the status). Everything else
/// passes through untouched.
final class MessageSizeLimit: ChannelDuplexHandler, RemovableChannelHandler {
  typealias InboundIn = HTTP2Frame.FramePayload
  typealias InboundOut = HTTP2Frame.FramePayload
  typealias OutboundIn = HTTP2Frame.FramePayload
  typealias OutboundOut = HTTP2Frame.FramePayload

  private let limit: Int
  /// Bytes of the current message still to come; 0 at a message boundary.
  private var remaining = 0
  /// The prefix of the next message, while it arrives split over frames.
  private var prefix: [UInt8] = []
  private var rejected = false

  init(limit: Int) { self.limit = limit }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !rejected else { return }
    let payload = unwrapInboundIn(data)
    if case .data(let frame) = payload, case .byteBuffer(let buffer) = frame.data {
      var bytes = buffer
      while bytes.readableBytes > 0 {
        if remaining > 0 {
          let step = min(remaining, bytes.readableBytes)
          bytes.moveReaderIndex(forwardBy: step)
          remaining -= step
          continue
        }
        while prefix.count < 5, let byte = bytes.readInteger(as: UInt8.self) { prefix.append(byte) }
        guard prefix.count == 5 else { break }
        let length = Int(prefix[1]) << 24 | Int(prefix[2]) << 16 | Int(prefix[3]) << 8 | Int(prefix[4])
        prefix.removeAll(keepingCapacity: true)
        if length > limit {
          reject(context: context, length: length)
          return
        }
        remaining = length
      }
    }
    context.fireChannelRead(data)
  }

  private func reject(context: ChannelHandlerContext, length: Int) {
    rejected = true
    let headers: HPACKHeaders = [
      ":status": "200", "content-type": "application/grpc", "grpc-status": "8",
      "grpc-message": "the request message is \(length) bytes; at most \(limit) are accepted (send large files in chunks of at most 1 MiB)",
    ]
    context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
  }

  /// The stream callback of a server transport that installs the handler on each stream.
  static func installer(limit: Int) -> @Sendable (any Channel) -> EventLoopFuture<Void> {
    { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(MessageSizeLimit(limit: limit), position: .first)
      }
    }
  }
}
