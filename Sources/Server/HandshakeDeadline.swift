import NIOCore

/// Closes a connection that has not sent its first bytes in time.
///
/// A gRPC client opens with the 24-byte HTTP/2 preface (or, over TLS, a longer
/// ClientHello) at once. A connection that sends nothing, or a byte now and then, only holds
/// a file descriptor: a thousand of them once starved real clients. Placed first in every
/// accepted connection's pipeline, this handler closes such a connection after `timeout` and
/// removes itself as soon as the opening bytes have come.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer

  /// Bytes a client sends first in any case: the HTTP/2 connection preface's length.
  static let openingBytes = 24

  private let timeout: TimeAmount
  private var received = 0
  private var deadline: Scheduled<Void>?

  init(timeout: TimeAmount) { self.timeout = timeout }

  func handlerAdded(context: ChannelHandlerContext) {
    if context.channel.isActive { startClock(context) }
  }

  func channelActive(context: ChannelHandlerContext) {
    startClock(context)
    context.fireChannelActive()
  }

  func channelInactive(context: ChannelHandlerContext) {
    deadline?.cancel()
    context.fireChannelInactive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    received += unwrapInboundIn(data).readableBytes
    context.fireChannelRead(data)
    if received >= Self.openingBytes {
      deadline?.cancel()
      deadline = nil
      context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
  }

  private func startClock(_ context: ChannelHandlerContext) {
    guard deadline == nil else { return }
    let channel = context.channel
    deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
  }

  /// The accept callback of a server transport that installs the handler on each connection.
  static func installer(timeout: TimeAmount) -> @Sendable (any Channel) -> EventLoopFuture<Void> {
    { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(HandshakeDeadline(timeout: timeout), position: .first)
      }
    }
  }
}
