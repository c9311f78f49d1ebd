import FidelisProto

extension Fidelis_V1_JobState {
  /// The states a client may name, by their names in the CLI and the docs.
  public static let named: [(name: String, state: Fidelis_V1_JobState)] = [
    ("queued", .queued), ("running", .running), ("succeeded", .succeeded), ("failed", .failed), ("cancelled", .cancelled),
  ]

  /// The state's name: queued, running, succeeded, failed or cancelled ("unknown" otherwise).
  public var name: String { Self.named.first { $0.state == self }?.name ?? "unknown" }

  /// The state a name stands for; nil for any other text.
  public init?(name: String) {
    guard let state = Self.named.first(where: { $0.name == name.lowercased() })?.state else { return nil }
    self = state
  }
}
