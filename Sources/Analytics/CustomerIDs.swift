/// The customers' identifiers, a customer's index being its position, held as their UTF-8
/// bytes in the compact forms reading keeps them in: eight bytes an identifier of at most
/// ten digits, letters, `-` and `_`; sixteen a UUID; else the bytes and four more. An
/// array of Strings took sixteen bytes an identifier and, past fifteen bytes, a heap object
/// of eighty or more: 2 M e-mail addresses were 220 MB held through the whole analysis.
/// Each identifier is made a String only when asked for.
public struct CustomerIDs: RandomAccessCollection, Sendable, Equatable, ExpressibleByArrayLiteral {
  /// The identifiers' bytes, without a lookup table.
  private var keys: ByteInterner

  /// No identifiers.
  public init() {
    keys = .keysOnly()
  }

  private init(keys: ByteInterner) {
    self.keys = keys
  }

  /// The identifiers given, in order.
  public init<Identifiers: Sequence>(_ ids: Identifiers) where Identifiers.Element == String {
    keys = .keysOnly()
    for id in ids {
      var id = id
      id.withUTF8 { keys.appendUnindexed($0) }
    }
  }

  /// The identifiers listed, in order.
  public init(arrayLiteral ids: String...) {
    self.init(ids)
  }

  /// The identifiers reading gathered (`customers`, in the file's `encoding`), as text.
  /// Most files' identifiers are their own text already: their bytes are kept as they
  /// are, the lookup table dropped. Others are decoded one by one, as each was before, on
  /// every core (a million names with accents were a tenth of a second on one).
  init(reading customers: ByteInterner, encoding: TextEncoding) {
    guard !customers.keysAreText else {
      self.init(keys: customers.withoutIndex())
      return
    }
    self.init(concurrentArray(count: customers.count) { index in customers.withKey(index) { decodeText($0, encoding: encoding) } })
  }

  /// The identifiers at `positions`, in that order.
  func selecting<Positions: Sequence>(_ positions: Positions) -> CustomerIDs where Positions.Element == Int {
    var selected = CustomerIDs()
    for position in positions { keys.withKey(position) { selected.keys.appendUnindexed($0) } }
    return selected
  }

  public var startIndex: Int { 0 }
  public var endIndex: Int { keys.count }

  /// The identifier at `position`.
  public subscript(position: Int) -> String {
    keys.withKey(position) { String(decoding: $0, as: UTF8.self) }
  }

  /// `body` of the UTF-8 bytes of the identifier at `position`, read in place where they
  /// are stored as they are.
  public func withUTF8<Result>(_ position: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    keys.withKey(position, body)
  }

  /// Whether both hold the same identifiers in the same order.
  public static func == (a: CustomerIDs, b: CustomerIDs) -> Bool {
    a.count == b.count && a.indices.allSatisfy { i in a.withUTF8(i) { x in b.withUTF8(i) { y in x.elementsEqual(y) } } }
  }
}
