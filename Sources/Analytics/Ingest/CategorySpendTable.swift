import CPrefetch

/// Net spend per (customer, category) while a file is read, turned into `CategorySpend` at
/// its end.
///
/// While a file has at most `denseCategories` categories (most do: a handful of
/// departments), each customer has a row of that many cells: one array access per line.
/// The first category past them moves every non-zero cell into a hash table of the pairs
/// seen, whose memory grows with the pairs, not with customers × categories. Rows as wide
/// as the categories took 8 bytes per customer per category: 300 categories made a 41 MB
/// file need 890 MB, and a category column that names each line's product (100,000 of them
/// in a 5 MB file) took every gigabyte of the machine.
struct CategorySpendTable {
  /// Cells per customer while the table is dense.
  static let denseCategories = 8
  /// customer × `denseCategories` + category, while `pairs` is nil.
  private var rows: [Double] = []
  /// Every (customer, category) pair seen, once a category number reaches `denseCategories`.
  private var pairs: SpendPairs?

  /// Adds `amount` to the customer's spend in the category. `customers`, the customers
  /// known so far, sizes the rows when they grow.
  @inline(__always)
  mutating func add(_ amount: Double, category: Int, customer: Int, customers: Int) {
    if pairs == nil, category < Self.denseCategories {
      let cell = customer * Self.denseCategories + category
      if cell >= rows.count {
        rows.append(contentsOf: repeatElement(0, count: max(customer + 1, customers) * Self.denseCategories - rows.count))
      }
      rows[cell] += amount
      return
    }
    if pairs == nil { moveToPairs() }
    pairs!.add(amount, key: SpendPairs.key(customer: customer, category: category))
  }

  /// Makes room for the rows of `customers` customers, while dense: reserved and never
  /// written is never resident, where doubling late copied the table at the peak.
  mutating func reserve(customers: Int) {
    guard pairs == nil else { return }
    rows.reserveCapacity(customers * Self.denseCategories)
  }

  /// Starts loading the customer's row (its first and last cells: a row may straddle two
  /// cache lines), while dense.
  @inline(__always)
  func prefetch(customer: Int) {
    guard pairs == nil else { return }
    let cell = customer * Self.denseCategories
    guard cell + Self.denseCategories <= rows.count else { return }
    rows.withUnsafeBufferPointer {
      fidelis_prefetch($0.baseAddress! + cell)
      fidelis_prefetch($0.baseAddress! + cell + Self.denseCategories - 1)
    }
  }

  private mutating func moveToPairs() {
    var moved = SpendPairs(capacity: 1 << 10)
    let stride = Self.denseCategories
    for customer in 0..<rows.count / stride {
      for category in 0..<stride where rows[customer * stride + category] != 0 {
        moved.add(rows[customer * stride + category], key: SpendPairs.key(customer: customer, category: category))
      }
    }
    rows = []
    pairs = moved
  }

  /// Each customer's positive net spend per category (a customer bought in a category when
  /// its net spend there is positive), by customer then category; `categories` and
  /// `customers` are how many the file has.
  func positive(categories: Int, customers: Int) -> CategorySpend {
    if let pairs { return pairs.positive(customers: customers) }
    return positiveRows(categories: min(categories, Self.denseCategories))
  }

  /// `positive` of the rows. Counted, then written, on every core in slices of customers:
  /// alone on one core this was a tenth of a second at a million customers.
  private func positiveRows(categories: Int) -> CategorySpend {
    let stride = Self.denseCategories
    let rowCount = rows.count / stride
    let slices = sliceCount(rowCount)
    func customers(of slice: Int) -> Range<Int> { sliceRange(slice, of: slices, count: rowCount) }
    var spend = CategorySpend()
    rows.withUnsafeBufferPointer { amounts in
      var starts = [Int](repeating: 0, count: slices + 1)
      starts.withUnsafeMutableBufferPointer { starts in
        concurrentChunks(slices) { slice in
          var count = 0
          for customer in customers(of: slice) {
            for category in 0..<categories where amounts[customer * stride + category] > 0 { count += 1 }
          }
          starts[slice + 1] = count
        }
      }
      for slice in 0..<slices { starts[slice + 1] += starts[slice] }
      let total = starts[slices]
      spend.keys = [Int64](unsafeUninitializedCapacity: total) { keys, keysMade in
        spend.amounts = [Double](unsafeUninitializedCapacity: total) { positive, amountsMade in
          concurrentChunks(slices) { slice in
            var at = starts[slice]
            for customer in customers(of: slice) {
              for category in 0..<categories where amounts[customer * stride + category] > 0 {
                keys[at] = CategorySpend.key(customer: customer, category: category)
                positive[at] = amounts[customer * stride + category]
                at += 1
              }
            }
          }
          amountsMade = total
        }
        keysMade = total
      }
    }
    return spend
  }
}

/// Net spend per (customer, category) pair, in an open-addressing table: a key per pair
/// seen, so memory follows the pairs a file has.
struct SpendPairs {
  /// customer << 32 | category, plus one: 0 marks an empty slot.
  private var keys: [UInt64]
  private var sums: [Double]
  private var mask: Int
  private(set) var count = 0

  init(capacity: Int) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    keys = [UInt64](repeating: 0, count: size)
    sums = [Double](repeating: 0, count: size)
    mask = size - 1
  }

  /// The stored key of a pair.
  @inline(__always) static func key(customer: Int, category: Int) -> UInt64 {
    (UInt64(customer) << 32 | UInt64(category)) &+ 1
  }

  @inline(__always) private func home(_ key: UInt64) -> Int {
    Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
  }

  /// Adds `amount` to the pair `key` (from `key(customer:category:)`).
  mutating func add(_ amount: Double, key: UInt64) {
    var slot = home(key)
    while keys[slot] != 0 && keys[slot] != key { slot = (slot + 1) & mask }
    if keys[slot] == 0 {
      keys[slot] = key
      count += 1
      if count * 10 > keys.count * 7 {
        grow()
        slot = home(key)
        while keys[slot] != key { slot = (slot + 1) & mask }
      }
    }
    sums[slot] += amount
  }

  private mutating func grow() {
    let (oldKeys, oldSums) = (keys, sums)
    keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
    sums = [Double](repeating: 0, count: oldKeys.count * 2)
    mask = keys.count - 1
    for i in oldKeys.indices where oldKeys[i] != 0 {
      var slot = home(oldKeys[i])
      while keys[slot] != 0 { slot = (slot + 1) & mask }
      (keys[slot], sums[slot]) = (oldKeys[i], oldSums[i])
    }
  }

  /// The pairs with a positive sum, by customer then category: placed by a count per
  /// customer, then each customer's few sorted.
  func positive(customers: Int) -> CategorySpend {
    var starts = [Int](repeating: 0, count: customers + 1)
    for i in keys.indices where keys[i] != 0 && sums[i] > 0 { starts[Int((keys[i] &- 1) >> 32) + 1] += 1 }
    for c in 0..<customers { starts[c + 1] += starts[c] }
    let total = starts[customers]
    var sorted = [(key: UInt64, sum: Double)](repeating: (0, 0), count: total)
    var next = starts
    for i in keys.indices where keys[i] != 0 && sums[i] > 0 {
      let customer = Int((keys[i] &- 1) >> 32)
      sorted[next[customer]] = (keys[i] &- 1, sums[i])
      next[customer] += 1
    }
    for c in 0..<customers where starts[c + 1] - starts[c] > 1 { sorted[starts[c]..<starts[c + 1]].sort { $0.key < $1.key } }
    var spend = CategorySpend()
    spend.keys = sorted.map { CategorySpend.key(customer: Int($0.key >> 32), category: Int($0.key & 0xFFFF_FFFF)) }
    spend.amounts = sorted.map(\.sum)
    return spend
  }
}
