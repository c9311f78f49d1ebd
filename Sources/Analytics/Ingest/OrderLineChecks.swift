/// The checks of a line that need nothing but its order id and its hash, made in file order:
/// whether it is an exact copy of an earlier line, and which order a purchase line belongs
/// to. Kept apart from the rest of the merge (customers, amounts, returns) so that the two
/// run on two cores, this one a chunk ahead: the merge was reading's critical path, one
/// core waiting on memory in two tables at once.
///
/// Two identical lines have the same order id and fare the same, so each kind is compared
/// only with its own kind: a line that opens an order cannot be a copy; one added to a known
/// order is compared with that order's first line (`firstLineHash`), then with the other
/// added lines; rejected and return lines with theirs. Most lines open an order, so few of
/// them reach a hash table that grows with the file.
struct OrderLineChecks {
  /// What the checks say of one line, for the merge.
  enum Verdict: Equatable {
    /// Nothing to say: no order column, a line without use, a return or a rejected line
    /// seen for the first time.
    case noOrder
    /// An exact copy of an earlier line.
    case duplicate
    /// A purchase line of order `index`, which it opens when `isNew`.
    case order(index: Int, isNew: Bool)

    /// Packed in eight bytes, one per line of a part.
    var packed: Int64 {
      switch self {
      case .noOrder: -1
      case .duplicate: -2
      case .order(let index, let isNew): Int64(index) << 1 | (isNew ? 1 : 0)
      }
    }

    init(packed: Int64) {
      switch packed {
      case -1: self = .noOrder
      case -2: self = .duplicate
      default: self = .order(index: Int(packed >> 1), isNew: packed & 1 == 1)
      }
    }
  }

  // Tables start small and double as they fill; see `TransactionIngestor`.
  private var orderIDs = ByteInterner(capacity: 1 << 10)
  private var firstLineHash: [UInt64] = []
  private var addedLines = HashSet64(capacity: 1 << 10)
  private var rejectedLines = HashSet64(capacity: 1 << 10)
  private var returnLines = HashSet64(capacity: 1 << 10)
  /// The file's size when known: after its first megabyte, the order table is sized for
  /// the whole file instead of doubling its way there.
  private let expectedBytes: Int?
  private var checkedBytes = 0
  private var sized = false

  init(expectedBytes: Int? = nil) {
    self.expectedBytes = expectedBytes
  }

  /// Checks that hold nothing of any file, shared: what the ingestor keeps in their place
  /// while its own run beside the merge, and once they are done, without making fresh
  /// tables for every chunk.
  static let placeholder = OrderLineChecks()

  /// Gives each line of `parts`, in order, its verdict (`ParsedPart.verdicts`). Without
  /// an order column (`hasOrders` false) every line's is `.noOrder` and none is stored.
  mutating func check(_ parts: inout [ParsedPart], hasOrders: Bool) {
    guard hasOrders else { return }
    for p in parts.indices {
      check(&parts[p])
      checkedBytes += parts[p].bytes
    }
    if !sized, let expectedBytes, checkedBytes >= 1 << 20, expectedBytes > checkedBytes {
      // Orders so far, scaled to the file, with a tenth more for the file's variations.
      sized = true
      let orders = Int(Double(orderIDs.count) * Double(expectedBytes) / Double(checkedBytes) * 1.1)
      orderIDs.reserve(orders)
      firstLineHash.reserveCapacity(orders)
    }
  }

  private mutating func check(_ part: inout ParsedPart) {
    let rows = part.rows
    var verdicts = [Int64](repeating: Verdict.noOrder.packed, count: rows.count)
    part.arena.withUnsafeBufferPointer { arena in
      let ahead = 12
      for r in rows.indices {
        // Most of a lookup is waiting on memory: the slots of the lines a little further
        // on start loading now, and the waits overlap.
        if r + ahead < rows.count { orderIDs.prefetch(rows[r + ahead].order.hash, step: 0) }
        let row = rows[r]
        switch row.outcome {
        case .empty, .shortLine:
          continue
        case .rejected:
          // Every repeated header is one: a copy of the previous is no copied purchase.
          if row.reason != .repeatedHeader, !rejectedLines.insert(row.lineHash) { verdicts[r] = Verdict.duplicate.packed }
        case .usable where row.isReturn:
          if !returnLines.insert(row.lineHash) { verdicts[r] = Verdict.duplicate.packed }
        case .usable:
          let key = UnsafeBufferPointer(rebasing: arena[Int(row.order.start)..<Int(row.order.start + row.order.count)])
          let found = orderIDs.intern(key, hash: row.order.hash)
          if found.isNew {
            firstLineHash.append(row.lineHash)
          } else if firstLineHash[found.index] == row.lineHash || !addedLines.insert(row.lineHash) {
            verdicts[r] = Verdict.duplicate.packed
            continue
          }
          verdicts[r] = Verdict.order(index: found.index, isNew: found.isNew).packed
        }
      }
    }
    part.verdicts = verdicts
  }
}
