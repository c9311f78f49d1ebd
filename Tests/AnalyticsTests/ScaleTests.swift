import Foundation
import Testing

@testable import Analytics

/// The shortcuts taken for speed at scale give exactly what the plain computations give.
@Suite("Scale shortcuts")
struct ScaleShortcutTests {
  /// Values with many ties, negatives and a long tail.
  static func values(_ n: Int, seed: UInt64) -> [Double] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in
      let r = rng.next()
      return r % 7 == 0 ? 5 : Double(Int64(r % 2001) - 500) / Double(1 + r % 3)
    }
  }

  @Test("a value at a rank, the median and the largest values equal what a sort gives", arguments: [1, 2, 3, 10, 1000, 4097])
  func selection(n: Int) {
    let v = Self.values(n, seed: UInt64(n))
    let sorted = v.sorted()
    for rank in Set([0, n / 2, n - 1, (n * 95) / 100]) where rank < n {
      #expect(valueAtRank(v, rank) == sorted[rank])
    }
    let middle = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    #expect(median(v) == middle)
    for count in Set([1, max(1, n / 5), n]) {
      let byValue = v.indices.sorted { v[$0] != v[$1] ? v[$0] > v[$1] : $0 < $1 }
      #expect(indicesOfLargest(v, count: count) == byValue.prefix(count).sorted())
    }
    // The first few in an order with ties broken by row, as sorting every candidate gives.
    let coarse = v.map { ($0 * 7).rounded() }
    let order = { (a: Int, b: Int) in coarse[a] != coarse[b] ? coarse[a] < coarse[b] : a < b }
    for count in [0, 1, 10, n + 3] {
      #expect(firstInOrder(Array(v.indices.reversed()), count: count, by: order) == Array(v.indices.sorted(by: order).prefix(count)))
    }
    #expect(valueAtRank([3, 3, 3, 3], 2) == 3)
    #expect(valueAtRank((0..<1000).map(Double.init), 500) == 500)
    #expect(valueAtRank((0..<1000).reversed().map(Double.init), 10) == 10)
  }

  @Test("the hypergeometric series summed together for many z equal each one summed alone, to the bit", arguments: [1 as UInt64, 2, 3])
  func hypergeometricTogether(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    for _ in 0..<300 {
      let a = 0.05 + Double(rng.next() % 4000) / 100, b = 0.05 + Double(rng.next() % 4000) / 100
      let c = 0.05 + Double(rng.next() % 4000) / 100
      // Sorted as horizons are, some near 1 where the series is long.
      let z = (0..<Int(1 + rng.next() % 24)).map { _ in Double(rng.next() % 999_000) / 1e6 }.sorted()
      var scratch = z, sums = z, terms = z
      scratch.withUnsafeMutableBufferPointer { zs in
        sums.withUnsafeMutableBufferPointer { sums in
          terms.withUnsafeMutableBufferPointer { hypergeometric2F1(a, b, c, z: zs, into: sums, terms: $0) }
        }
      }
      #expect(sums == z.map { hypergeometric2F1(a, b, c, $0) }, "a \(a) b \(b) c \(c)")
    }
  }

  @Test(
    "expected purchases by month and lifetime value, summed together, equal one horizon at a time to the bit",
    arguments: [
      PurchaseModelParameters.Dropout.bgnbd(a: 0.8, b: 2.4), .bgnbd(a: 1.0, b: 3), .mbgnbd(a: 0.5, b: 6), .pareto(s: 0.7, beta: 40),
    ])
  func purchasesByMonth(dropout: PurchaseModelParameters.Dropout) {
    let model = PurchaseModelParameters(r: 0.3, alpha: 9.5, dropout: dropout, fit: .unreported)
    var rng = SplitMix64(seed: 4)
    let factors = LifetimeModels.discountFactors(months: 12, monthlyDiscountRate: 0.01)
    var byMonth = [Double](repeating: 0, count: 24)
    for _ in 0..<2000 {
      let x = Double(rng.next() % 12)
      let tx = x == 0 ? 0 : Double(rng.next() % 700)
      let age = tx + Double(rng.next() % 400)
      let outlook = CustomerOutlook(model, x: x, tx: tx, age: age)
      byMonth.withUnsafeMutableBufferPointer { outlook.expectedPurchasesByMonth(into: $0) }
      for month in 1...24 { #expect(byMonth[month - 1] == outlook.expectedPurchases(Double(30 * month))) }
      let clv = byMonth.withUnsafeBufferPointer { LifetimeModels.lifetimeValue(purchasesByMonth: $0, value: 37.5, discountFactors: factors) }
      // lifetimes' customer_lifetime_value, one horizon at a time.
      var reference = 0.0
      var previous = 0.0
      for month in 1...12 {
        let purchases = outlook.expectedPurchases(Double(30 * month))
        reference += (purchases - previous) * 37.5 / pow(1.01, Double(month))
        previous = purchases
      }
      #expect(clv == reference)
    }
  }

  @Test(
    "the outlook table, its hypergeometric series taken once per (x, T), gives each customer what its own outlook gives, to the bit (Pareto/NBD's integrals continued along runs: to 1e-12)",
    arguments: [
      PurchaseModelParameters.Dropout.bgnbd(a: 0.8, b: 2.4), .bgnbd(a: 1.0, b: 3), .mbgnbd(a: 0.5, b: 6), .pareto(s: 0.7, beta: 40),
    ])
  func outlookTable(dropout: PurchaseModelParameters.Dropout) throws {
    let model = PurchaseModelParameters(r: 0.3, alpha: 9.5, dropout: dropout, fit: .unreported)
    var rng = SplitMix64(seed: 9)
    // Many customers share (x, T) with different t_x, and some share all three.
    var (x, tx, age) = ([Double](), [Double](), [Double]())
    for _ in 0..<6000 {
      x.append(Double(rng.next() % 9))
      age.append(Double(rng.next() % 300))
      tx.append(x.last! == 0 ? 0 : Double(rng.next() % UInt64(age.last! + 1)))
    }
    let summary = RepeatSummary(frequency: x, recency: tx, age: age, monetaryValue: [Double](repeating: 10, count: 6000))
    let distinct = DistinctCustomers(summary, mappingCustomers: true)
    #expect(distinct.rowOfCustomer != nil && distinct.x.count < 6000)
    let months = 12
    let table = OutlookTable(model, summary: summary, distinct: distinct, months: months)
    var own = [Double](repeating: 0, count: months)
    for i in 0..<6000 {
      let outlook = CustomerOutlook(model, x: summary.frequency[i], tx: summary.recency[i], age: summary.age[i])
      own.withUnsafeMutableBufferPointer { outlook.expectedPurchasesByMonth(into: $0) }
      let row = table.row(ofCustomer: i)
      let tableMonths = Array(table.byMonth[row * months..<(row + 1) * months])
      if case .pareto = dropout {
        // Pareto/NBD's integral is continued from row to row along each run of equal x and
        // t_x: the same value to the last few bits, not to the bit.
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * abs(b) }
        #expect(close(table.probabilityAlive[row], outlook.probabilityAlive), "customer \(i)")
        #expect(zip(tableMonths, own).allSatisfy(close), "customer \(i)")
      } else {
        #expect(table.probabilityAlive[row] == outlook.probabilityAlive)
        #expect(tableMonths == own, "customer \(i)")
      }
    }
    // One horizon, as the model check predicts its holdout.
    switch dropout {
    case .bgnbd, .mbgnbd:
      let curves = try #require(PurchaseCurves(model, x: distinct.x, age: distinct.age, horizons: [91]))
      var one = [0.0]
      for row in distinct.x.indices {
        let (x, tx, age) = (distinct.x[row], distinct.tx[row], distinct.age[row])
        let plain = CustomerOutlook(model, x: x, tx: tx, age: age).expectedPurchases(91)
        if one.withUnsafeMutableBufferPointer({ curves.expectedPurchases(ofRow: row, x: x, tx: tx, age: age, into: $0) }) {
          #expect(one[0] == plain)
        }
      }
    case .pareto:
      // Pareto/NBD has no such curve: each row takes its own outlook.
      #expect(PurchaseCurves(model, x: distinct.x, age: distinct.age, horizons: [91]) == nil)
    }
  }

  @Test("the calibration split in one pass equals a customer table of the calibration orders, and counts the holdout's purchase days and spend", arguments: [3, 40, 200])
  func calibrationSplit(end: Int) {
    var rng = SplitMix64(seed: UInt64(end))
    var data = TransactionData()
    data.customerIDs = CustomerIDs((0..<300).map { "C\($0)" })
    for _ in 0..<4000 {
      data.orderCustomer.append(Int32(rng.next() % 300))
      data.orderDay.append(Int32(rng.next() % 250))
      // 0.00 purchases and days netted below zero by returns included.
      let amounts: [Double] = [0, -4.5, 12.25, 0.1, 7]
      data.orderAmount.append(amounts[Int(rng.next() % 5)] + Double(rng.next() % 30))
      data.orderPromo.append(false)
    }
    let split = CalibrationSplit(data, calibrationEnd: end)
    let keep = data.orderDay.map { Int($0) <= end }
    var sorted = data
    sorted.sortOrdersByCustomerAndDay()
    var table = CustomerTable(sorted.keepingOrders(sorted.orderDay.map { Int($0) <= end }))
    table.lastDataDay = end
    let summary = RepeatSummary(table)
    #expect(split.summary.frequency == summary.frequency)
    #expect(split.summary.recency == summary.recency)
    #expect(split.summary.age == summary.age)
    #expect(split.summary.monetaryValue == summary.monetaryValue)
    #expect(split.summary.spendFrequency == summary.spendFrequency)
    #expect(split.monetary == table.monetary)
    // The holdout, counted plainly from the unsorted orders: distinct days and spend.
    var days: [Int: Set<Int32>] = [:]
    var spend = [Double](repeating: 0, count: 300)
    for o in 0..<data.orderCount where !keep[o] {
      days[Int(data.orderCustomer[o]), default: []].insert(data.orderDay[o])
      spend[Int(data.orderCustomer[o])] += data.orderAmount[o]
    }
    #expect(split.holdoutDays == table.sourceIndex.map { days[Int($0)]?.count ?? 0 })
    for (i, source) in table.sourceIndex.enumerated() { #expect(abs(split.holdoutSpend[i] - spend[Int(source)]) < 1e-9) }
  }

  /// A `ByteInterner` beside a dictionary of the keys it was given: each intern's answer,
  /// and at the end every key's index and bytes, checked against the dictionary's.
  struct CheckedInterner {
    var interner: ByteInterner
    var known: [[UInt8]: Int] = [:]
    var order: [[UInt8]] = []

    /// Interns `key` after the three prefetch steps a merge takes, and checks the answer.
    mutating func intern(_ key: [UInt8]) {
      let hash = key.withUnsafeBufferPointer { hashBytes($0) }
      for step in 0...2 { interner.prefetch(hash, step: step) }
      let (index, isNew) = key.withUnsafeBufferPointer { interner.intern($0, hash: hash) }
      if let expected = known[key] {
        #expect(index == expected && !isNew)
      } else {
        #expect(index == order.count && isNew)
        known[key] = index
        order.append(key)
      }
    }

    /// Each key given is at its index, with its bytes, and is found again by them.
    func checkAll() {
      #expect(interner.count == order.count)
      for (index, key) in order.enumerated() {
        #expect(interner.key(index) == key)
        #expect(key.withUnsafeBufferPointer { interner.index(of: $0, hash: hashBytes($0)) } == index)
      }
    }
  }

  @Test(
    "the returnable lines' flat stacks give back what a dictionary of arrays gives, through the table's doublings",
    arguments: [3 as UInt64, 50, 5000])
  func returnableStacks(keys distinctKeys: UInt64) {
    var rng = SplitMix64(seed: distinctKeys)
    var flat = ReturnableLines(capacity: 4)
    var plain: [UInt64: [ReturnableLine]] = [:]
    for step in 0..<40_000 {
      // Key 0 is the table's empty mark: it must still be a key like any other. The others
      // spread over 64 bits, as the (customer, product, quantity) hashes do.
      let key = (rng.next() % distinctKeys) &* 0x9E37_79B9_7F4A_7C15
      if rng.next() % 3 == 0 {
        #expect(flat.pop(key: key) == plain[key]?.popLast(), "step \(step)")
      } else {
        let line = ReturnableLine(amount: Double(step) / 4, order: Int32(step), category: Int32(step % 5) - 1)
        flat.push(line, key: key)
        plain[key, default: []].append(line)
      }
    }
    for key in (0..<distinctKeys).map({ $0 &* 0x9E37_79B9_7F4A_7C15 }) {
      while let line = plain[key]?.popLast() { #expect(flat.pop(key: key) == line) }
      #expect(flat.pop(key: key) == nil)
    }
  }

  @Test("interned keys keep their indices and bytes when the arena outgrows what a stored offset spans, room made or not", arguments: [32, 5, 3])
  func internerOffsets(bits: Int) {
    var rng = SplitMix64(seed: UInt64(bits))
    var checked = CheckedInterner(interner: ByteInterner(capacity: 4, offsetBits: bits))
    for step in 0..<3000 {
      // Room made partway, as a large file's first megabyte does (table and key bytes).
      if step == 1000 { checked.interner.reserve(4000) }
      // Short keys repeat; a few are longer than a stored offset spans.
      let length = rng.next() % 50 == 0 ? 40 + Int(rng.next() % 40) : Int(rng.next() % 3)
      checked.intern((0..<length).map { _ in UInt8(rng.next() % 4) })
    }
    checked.checkAll()
  }

  @Test(
    "a table sized for a count holds that many keys at most 70 % full in no more slots, and keeps every key as it grows past the count by a quarter at a time",
    arguments: [700, 4001, 30_000])
  func internerSizedForCount(reserved: Int) {
    var rng = SplitMix64(seed: UInt64(reserved))
    var checked = CheckedInterner(interner: ByteInterner(capacity: 4))
    for _ in 0..<100 { checked.intern(Array("K\(rng.next() % 100_000)".utf8)) }
    checked.interner.reserve(reserved)
    let sized = checked.interner.slotCount
    #expect(sized == (reserved * 10 + 6) / 7 && reserved * 10 <= sized * 7)
    // As many keys as reserved fit without growing; then as many again, which grow it.
    while checked.interner.count < reserved { checked.intern(Array("K\(rng.next() % 100_000)".utf8)) }
    #expect(checked.interner.slotCount == sized)
    // Long keys too, so the second half lives in the arena.
    while checked.interner.count < 2 * reserved {
      checked.intern(Array("K\(rng.next() % 100_000)".utf8) + (rng.next() % 3 == 0 ? Array(" customer@example.org".utf8) : []))
    }
    #expect(checked.interner.slotCount > sized && checked.interner.slotCount < 3 * sized)
    checked.checkAll()
  }

  @Test("a UUID packs into two values that give its text back, in either case; what is not quite a UUID does not pack")
  func uuidKeys() {
    var rng = SplitMix64(seed: 36)
    let hex = Array("0123456789abcdef".utf8)
    var seen: [UUIDKey: [UInt8]] = [:]
    for n in 0..<3000 {
      var text = (0..<36).map { [8, 13, 18, 23].contains($0) ? UInt8(ascii: "-") : hex[Int(rng.next() % 16)] }
      // Some with no letter at all, some uppercase.
      if n % 10 == 0 { text = text.map { $0 >= 0x61 ? UInt8(ascii: "7") : $0 } }
      let uppercase = n % 3 == 0
      if uppercase { text = text.map { $0 >= 0x61 ? $0 - 0x20 : $0 } }
      guard let (key, letters) = text.withUnsafeBufferPointer({ UUIDKey.parse($0) }) else {
        Issue.record("\(String(decoding: text, as: UTF8.self)) did not parse")
        continue
      }
      let hasLetters = text.contains { $0 >= 0x41 }
      #expect(letters == (hasLetters ? uppercase : nil))
      #expect(key.withBytes(uppercase: uppercase) { Array($0) } == text)
      let lowered = text.map { $0 >= 0x41 && $0 <= 0x46 ? $0 + 0x20 : $0 }
      #expect(seen.updateValue(lowered, forKey: key).map { $0 == lowered } ?? true)
    }
    let good = Array("123e4567-e89b-42d3-a456-426614174000".utf8)
    var near: [[UInt8]] = [Array(good.dropLast()), good + [0x30], Array("123e4567-E89b-42d3-a456-426614174000".utf8)]
    for position in [0, 8, 13, 20, 35] {
      for odd in Array("g-G /{".utf8) where good[position] != odd {
        var text = good
        text[position] = odd
        near.append(text)
      }
    }
    for text in near { #expect(text.withUnsafeBufferPointer { UUIDKey.parse($0) } == nil, "\(String(decoding: text, as: UTF8.self))") }
  }

  @Test(
    "interned UUIDs keep their indices and text, and move to the arena at the first key that is not one or is in the other case",
    arguments: [-1, 0, 1, 699, 700, 2999])
  func internerUUIDs(strangerAtStep stranger: Int) {
    var rng = SplitMix64(seed: UInt64(stranger + 2))
    let uppercase = (stranger + 2) % 2 == 0
    let digits = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
    let pool = (0..<1500).map { _ in (0..<36).map { [8, 13, 18, 23].contains($0) ? UInt8(ascii: "-") : digits[Int(rng.next() % 16)] } }
    var checked = CheckedInterner(interner: ByteInterner(capacity: 4))
    for step in 0..<3000 {
      if step == 500 { checked.interner.reserve(4000) }
      var key = pool[Int(rng.next() % 1500)]
      if step == stranger {
        // The same UUID in the other case, or an order number.
        key = step % 3 == 0 ? Array("ORDER 42".utf8) : key.map { $0 >= 0x61 ? $0 - 0x20 : $0 >= 0x41 ? $0 + 0x20 : $0 }
      }
      checked.intern(key)
    }
    checked.checkAll()
    for absent in ["O999999", "123e4567-e89b-42d3-a456-426614174000", "x y"] {
      #expect(Array(absent.utf8).withUnsafeBufferPointer { checked.interner.index(of: $0, hash: hashBytes($0)) } == nil)
    }
  }

  @Test("an identifier of at most ten digits, letters, '-' and '_' packs into one value that gives its bytes back; others do not pack")
  func packedKeys() {
    let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_".utf8)
    var rng = SplitMix64(seed: 17)
    var seen: [UInt64: [UInt8]] = [:]
    for length in 0...PackedKey.longest {
      for _ in 0..<2000 {
        let key = (0..<length).map { _ in alphabet[Int(rng.next() % 64)] }
        guard let packed = key.withUnsafeBufferPointer({ PackedKey($0) }) else {
          Issue.record("\(key) did not pack")
          continue
        }
        #expect(packed.withBytes { Array($0) } == key)
        // Two different keys never share a value.
        #expect(seen.updateValue(key, forKey: packed.value).map { $0 == key } ?? true)
      }
    }
    // Every character of the alphabet, in every position of a key of ten.
    for shift in 0..<10 {
      let key = (0..<10).map { alphabet[($0 * 7 + shift * 13) % 64] }
      #expect(key.withUnsafeBufferPointer { PackedKey($0)?.withBytes { Array($0) } } == key)
    }
    // The characters beside the alphabet's ranges, anywhere in a key; and eleven bytes.
    for odd in Array("/:@[`{. #,\"'".utf8) + [0, 0x7F, 0x80, 0xC3, 0xFF] {
      for position in [0, 4, 9] {
        var key = Array("AB12cd-_9z".utf8)
        key[position] = odd
        #expect(key.withUnsafeBufferPointer { PackedKey($0) } == nil)
      }
    }
    #expect(Array("12345678901".utf8).withUnsafeBufferPointer { PackedKey($0) } == nil)
  }

  @Test("two keys compared eight bytes at a time are the same exactly when every byte is", arguments: Array(0...40))
  func sameBytesAtEveryLength(count: Int) {
    var rng = SplitMix64(seed: UInt64(count) + 100)
    let key = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    // Offsets into a larger buffer, so that the loads are unaligned.
    let buffer = [UInt8](repeating: 0xAA, count: 3) + key + [0xBB]
    buffer.withUnsafeBufferPointer { held in
      let a = held.baseAddress! + 3
      var copy = key
      copy.withUnsafeMutableBufferPointer { b in
        #expect(count == 0 || sameBytes(a, UnsafePointer(b.baseAddress!), count: count))
        // Each position changed in turn: the first, the last and every one between.
        for i in 0..<count {
          b[i] ^= 0x01
          #expect(!sameBytes(a, UnsafePointer(b.baseAddress!), count: count))
          b[i] ^= 0x01
        }
      }
    }
  }

  @Test("interned identifiers keep their indices and bytes when a key that does not pack moves the packed ones to the arena", arguments: [0, 1, 700, 2999])
  func internerUnpacks(atStep unpackable: Int) {
    var rng = SplitMix64(seed: UInt64(unpackable))
    var checked = CheckedInterner(interner: ByteInterner(capacity: 4))
    for step in 0..<3000 {
      if step == 500 { checked.interner.reserve(4000) }
      // Order ids as exports write them, repeating; from `unpackable` on, some with a space
      // or a slash, or longer than ten.
      var key = Array("O\(rng.next() % 1500)".utf8)
      if step == unpackable || (step > unpackable && rng.next() % 5 == 0) {
        key = rng.next() % 2 == 0 ? Array("INV/\(rng.next() % 300)".utf8) : Array("ORDER-\(100_000 + rng.next() % 300)".utf8)
      }
      checked.intern(key)
    }
    checked.checkAll()
    for absent in ["O999999", "INV/99999", "x y"] {
      #expect(Array(absent.utf8).withUnsafeBufferPointer { checked.interner.index(of: $0, hash: hashBytes($0)) } == nil)
    }
  }

  @Test("customers grouped by packed days equal a grouping of the triples, on one core and on every core", arguments: [5000, 150_000])
  func distinctCustomers(n: Int) throws {
    var rng = SplitMix64(seed: 9)
    let x = (0..<n).map { _ in Double(rng.next() % 6) }
    let tx = x.map { $0 == 0 ? 0 : Double(rng.next() % 40) }
    let age = tx.map { $0 + Double(rng.next() % 30) }
    let summary = RepeatSummary(frequency: x, recency: tx, age: age, monetaryValue: [Double](repeating: 0, count: n))
    let distinct = DistinctCustomers(summary)
    var expected: [[Double]: Double] = [:]
    for i in 0..<n { expected[[x[i], tx[i], age[i]], default: 0] += 1 }
    let keys = expected.keys.sorted { ($0[0], $0[1], $0[2]) < ($1[0], $1[1], $1[2]) }
    #expect(distinct.x == keys.map { $0[0] })
    #expect(distinct.tx == keys.map { $0[1] })
    #expect(distinct.age == keys.map { $0[2] })
    #expect(distinct.weight == keys.map { expected[$0]! })
    #expect(distinct.rowOfCustomer == nil)
    // Each customer's row holds its own triple.
    let mapped = DistinctCustomers(summary, mappingCustomers: true)
    let rows = try #require(mapped.rowOfCustomer)
    #expect(rows.count == n)
    #expect(rows.indices.allSatisfy { i in
      let row = Int(rows[i])
      return mapped.x[row] == x[i] && mapped.tx[row] == tx[i] && mapped.age[row] == age[i]
    })
    // Values that are not whole days take the general path, to the same result.
    let scaled = RepeatSummary(frequency: x, recency: tx.map { $0 / 2 }, age: age.map { $0 / 2 }, monetaryValue: summary.monetaryValue)
    let general = DistinctCustomers(scaled)
    #expect(general.tx == keys.map { $0[1] / 2 })
    #expect(general.weight == keys.map { expected[$0]! })
    // One value that is not a whole day, in the last customer, is enough for the general path.
    var lastHalved = age
    lastHalved[n - 1] += 0.5
    let oneOff = DistinctCustomers(RepeatSummary(frequency: x, recency: tx, age: lastHalved, monetaryValue: summary.monetaryValue), mappingCustomers: true)
    #expect(oneOff.rowOfCustomer == nil)
    #expect(oneOff.weight.reduce(0, +) == Double(n))
    #expect(oneOff.age.contains(age[n - 1] + 0.5))
  }

  @Test("the clustering's sample draws what a shuffle of every index draws", arguments: [(10, 3), (1000, 999), (250_000, 20_000)])
  func clusteringSample(n: Int, size: Int) {
    for seed: UInt64 in [42, 7] {
      var rng = SplitMix64(seed: seed ^ 0x5EED)
      var indices = Array(0..<n)
      for i in 0..<size { indices.swapAt(i, i + Int(rng.next() % UInt64(n - i))) }
      #expect(Clustering.sample(n, size: size, seed: seed) == Array(indices[0..<size]).sorted())
    }
    #expect(Clustering.sample(5, size: 20, seed: 1) == [0, 1, 2, 3, 4])
  }

  @Test("customers grouped in slices: a run of equal triples longer than a slice is one row", arguments: [1, 3, 7])
  func distinctCustomersLongRuns(triples: Int) throws {
    // 150,000 customers over a few triples: every run spans several of the slices the rows
    // are counted and written in.
    let n = 150_000
    let x = (0..<n).map { Double($0 % triples) }
    let tx = x.map { $0 * 2 }
    let age = x.map { $0 * 3 + 1 }
    let mapped = DistinctCustomers(RepeatSummary(frequency: x, recency: tx, age: age, monetaryValue: [Double](repeating: 0, count: n)), mappingCustomers: true)
    let expectedX: [Double] = (0..<triples).map { Double($0) }
    let expectedAge: [Double] = expectedX.map { $0 * 3 + 1 }
    let expectedWeight: [Double] = (0..<triples).map { (t: Int) -> Double in Double((n - 1 - t) / triples + 1) }
    #expect(mapped.x == expectedX)
    #expect(mapped.age == expectedAge)
    #expect(mapped.weight == expectedWeight)
    let rows = try #require(mapped.rowOfCustomer)
    #expect(rows.indices.allSatisfy { Int(rows[$0]) == $0 % triples })
  }

  @Test("the counting sort in slices keeps equal keys in their order, as a stable sort does", arguments: [1000, 200_001])
  func stableCountingSort(n: Int) {
    var rng = SplitMix64(seed: 4)
    let key = (0..<n).map { _ in UInt32(rng.next() % 700) }
    let order = (0..<Int32(n)).map { _ in Int32(rng.next() % UInt64(n)) }
    let expected = order.enumerated().sorted { (key[Int($0.element)], $0.offset) < (key[Int($1.element)], $1.offset) }.map(\.element)
    #expect(DistinctCustomers.stablyCounted(order, by: key) == expected)
    #expect(DistinctCustomers.stablyCounted([], by: []) == [])
  }

  /// RFM quintiles as first written: indices sorted by value, then by position in id order.
  static func referenceScores(_ table: CustomerTable, monetary: Bool) -> (r: [UInt8], f: [UInt8], m: [UInt8]) {
    let idOrder = table.ids.indices.sorted { table.ids[$0].utf8.lexicographicallyPrecedes(table.ids[$1].utf8) }
    var position = [Int](repeating: 0, count: table.count)
    for (p, i) in idOrder.enumerated() { position[i] = p }
    func quintiles<T: Comparable>(_ values: [T]) -> [UInt8] {
      let n = values.count
      var scores = [UInt8](repeating: 3, count: n)
      guard n > 1 else { return scores }
      let ranked = values.indices.sorted { values[$0] != values[$1] ? values[$0] < values[$1] : position[$0] < position[$1] }
      for (rank0, i) in ranked.enumerated() { scores[i] = UInt8(max(1, (5 * rank0 + n - 2) / (n - 1))) }
      return scores
    }
    let f = quintiles(table.frequency)
    return (quintiles(table.recency).map { 6 - $0 }, f, monetary ? quintiles(table.monetary) : f)
  }

  @Test("RFM scores equal a sort by value and customer id, for ids sharing long prefixes, non-ASCII ids and wide ranges", arguments: [false, true])
  func rfmScores(wideRange: Bool) {
    var table = CustomerTable(sampleData(customers: 700))
    var rng = SplitMix64(seed: 11)
    let n = table.count
    let prefixes = ["customer-000", "C", "Ç", "customer-00", "é", ""]
    table.ids = CustomerIDs((0..<n).map { i in "\(prefixes[i % prefixes.count])\(rng.next() % 97)-\(i)" })
    table.recency = (0..<n).map { _ in Int32(wideRange ? Int(rng.next() % 2_000_000) : Int(rng.next() % 40)) }
    table.frequency = (0..<n).map { _ in Int32(1 + rng.next() % 5) }
    table.monetary = Self.values(n, seed: 5)
    for monetary in [true, false] {
      let scores = RFMScores(table, monetary: monetary)
      let expected = Self.referenceScores(table, monetary: monetary)
      #expect(scores.r == expected.r)
      #expect(scores.f == expected.f)
      #expect(scores.m == expected.m)
    }
  }

  @Test(
    "category spend with more categories than the rows have room for, returns netted",
    // 70,000 customers are listed in slices on every core; past eight categories, the
    // pairs are kept in a table.
    arguments: [(30, 20, false), (70_000, 4, false), (70_000, 4, true), (3_000, 40, false)])
  func categorySpend(customers: Int, categories: Int, newCategoryLast: Bool) throws {
    var csv = "customer_id,order_id,order_date,amount,category\n"
    var expected: [Int64: Double] = [:]
    var order = 0
    for customer in 0..<customers {
      for category in 0..<(customer % categories) {
        order += 1
        let amount = Double(10 + category)
        csv += "K\(customer),O\(order),2024-02-\(10 + category),\(amount),cat\(category)\n"
        expected[Int64(customer) << 20 | Int64(category), default: 0] += amount
      }
    }
    // A return that cancels one customer's spend in one category: no longer a buyer there.
    csv += "K5,R1,2024-03-01,-13,cat3\n"
    expected[Int64(5) << 20 | 3] = nil
    if newCategoryLast {
      // A ninth category first seen on the last line: every customer's row moves to the
      // table of pairs there.
      csv += "K\(customers - 1),OL,2024-03-02,11,cat\(categories + 5)\n"
      expected[Int64(customers - 1) << 20 | Int64(categories + 5), default: 0] += 11
    }
    let data = try TransactionIngestor.ingest(Array(csv.utf8))
    let ids = data.customerIDs
    var got: [Int64: Double] = [:]
    for i in 0..<data.categorySpend.count {
      let customer = Int(ids[data.categorySpend.customer(i)].dropFirst())!
      let category = Int(data.categories[data.categorySpend.category(i)].dropFirst(3))!
      got[Int64(customer) << 20 | Int64(category)] = data.categorySpend.amounts[i]
    }
    #expect(got == expected)
    #expect(data.categorySpend.keys == data.categorySpend.keys.sorted())
  }

  @Test("orders dropped when their days are resolved (all lines returned, an impossible date, a date out of range) are counted as one pass counts them, in slices or not", arguments: [3000, 70_000])
  func droppedOrdersCounted(orders: Int) throws {
    // One line per order, over 7,919 customers and 700 days; every 89th order
    // returned in full, every 97th on 30 February, every 101st in 1899 (before the window).
    var csv = "customer_id,order_id,order_date,sku,quantity,amount\n"
    var (cancelled, impossible, outOfRange, kept) = (0, 0, 0, 0)
    for o in 0..<orders {
      let customer = "C\(o % 7919)"
      let date: String
      if o % 97 == 0 {
        date = "2024-02-30"
      } else if o % 101 == 0 {
        date = "1899-12-31"
      } else {
        date = isoDate(daysFromCivil(year: 2023, month: 1, day: 1) + o % 700)
      }
      csv += "\(customer),O\(o),\(date),P\(o % 13),2,10.00\n"
      if o % 89 == 0 {
        csv += "\(customer),R\(o),\(date),P\(o % 13),-2,-10.00\n"
      }
      if o % 89 == 0 {
        cancelled += 1
      } else if o % 97 == 0 {
        impossible += 1
      } else if o % 101 == 0 {
        outOfRange += 1
      } else {
        kept += 1
      }
    }
    let data = try TransactionIngestor.ingest(Array(csv.utf8))
    #expect(data.orderCount == kept)
    #expect(data.quality.returns.ordersCancelled == cancelled)
    #expect(data.quality.rejected == ["bad date": impossible, "date out of range": outOfRange])
    #expect(data.quality.rowsUsed + data.quality.rowsRejected == data.quality.rowsRead)
    #expect(data.orderDay.allSatisfy { $0 >= Int32(daysFromCivil(year: 2023, month: 1, day: 1)) })
  }
}

@Suite("Number formatting")
struct NumberFormattingTests {
  @Test("fixed decimals equal printf's, halves and near-halves included", arguments: [0, 2, 4])
  func fixedDecimals(digits: Int) {
    var rng = SplitMix64(seed: UInt64(digits) + 1)
    var values: [Double] = [0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 2.675, 1.005, 1.115, 0.00005, 0.00015, -0.001, 1e15, 123456789.125, 9.995, 0.045, 4503599627370495.5]
    for _ in 0..<20000 {
      let r = rng.next()
      switch r % 4 {
      case 0: values.append(Double(Int64(r >> 8) % 10_000_000) / 1000)  // amounts with 3 decimals: halves at 2 digits
      case 1: values.append(Double(Int64(r >> 8) % 1_000_000) / 8)  // exact binary halves
      case 2: values.append(Double(bitPattern: 0x3FF0_0000_0000_0000 | (r >> 12)) - 1)  // [0, 1)
      default: values.append((Double(r >> 11) / Double(1 << 53) - 0.5) * 1e6)
      }
    }
    for value in values {
      let expected = String(format: "%.\(digits)f", value)
      #expect(fixed(value, digits) == expected, "\(value)")
    }
    for value in [1e300, -Double.greatestFiniteMagnitude, 0x1p52, -0x1p53 - 2] {
      #expect(fixed(value, digits) == String(format: "%.\(digits)f", value))
    }
    #expect(fixed(.nan, 2) == String(format: "%.2f", Double.nan))
    #expect(fixed(.infinity, 2) == String(format: "%.2f", Double.infinity))
  }

  @Test("integers")
  func integers() {
    for value: Int64 in [0, 7, -7, 10, 1234567890, .max, .min] {
      var out: [UInt8] = []
      appendInteger(value, to: &out)
      #expect(String(decoding: out, as: UTF8.self) == String(value))
    }
  }
}

@Suite("Record boundaries")
struct RecordBoundaryTests {
  @Test("without quotes, the fast search cuts where the byte-by-byte scan does", arguments: [1, 2, 3, 8])
  func unquoted(parts: Int) {
    var rng = SplitMix64(seed: UInt64(parts))
    for trial in 0..<200 {
      var text: [UInt8] = []
      for _ in 0..<Int(rng.next() % 60) {
        let fields = Int(rng.next() % 4)
        for f in 0..<fields {
          if f > 0 { text.append(UInt8(ascii: ",")) }
          text += Array(String(rng.next() % 100_000).utf8)
        }
        // LF, CR LF, or a blank line.
        switch rng.next() % 5 {
        case 0: text += [13, 10]
        case 1: text += [10, 10]
        default: text.append(10)
        }
      }
      if trial % 3 == 0 { text += Array("tail,without,break".utf8) }
      text.withUnsafeBufferPointer { bytes in
        let fast = RecordBoundaries(unquoted: bytes, parts: parts)
        let scanned = RecordBoundaries(scanning: bytes, separator: UInt8(ascii: ","), parts: parts)
        #expect(fast.end == scanned.end)
        #expect(fast.linesBeforeEnd == scanned.linesBeforeEnd)
        #expect(fast.cuts.map(\.offset) == scanned.cuts.map(\.offset))
        #expect(fast.cuts.map(\.lines) == scanned.cuts.map(\.lines))
        #expect(countLineFeeds(bytes) == bytes.filter { $0 == 10 }.count)
      }
    }
  }

  @Test(
    "with quotes, the search from quote to quote cuts where the byte-by-byte scan does: quoted line breaks and separators, doubled quotes, quotes inside fields, CR LF, unclosed quotes",
    arguments: [(1, UInt8(ascii: ",")), (2, UInt8(ascii: ",")), (3, UInt8(ascii: ";")), (8, UInt8(ascii: "\t"))])
  func quoted(parts: Int, separator: UInt8) {
    var rng = SplitMix64(seed: UInt64(parts) * 7 + UInt64(separator))
    // Bytes that move the quoting state, and plain content, in random mixes.
    let alphabet: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: "\""), 10, 13, separator, separator, UInt8(ascii: ","), UInt8(ascii: "a"), UInt8(ascii: "7")]
    for trial in 0..<3000 {
      var text: [UInt8] = []
      if trial % 2 == 0 {
        // Random bytes of the alphabet.
        for _ in 0..<Int(rng.next() % 120) { text.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
      } else {
        // Records like an export's: some fields quoted, with separators, quotes and line
        // breaks inside; now and then a stray quote in an unquoted field.
        for _ in 0..<Int(rng.next() % 12) {
          for f in 0..<Int(1 + rng.next() % 4) {
            if f > 0 { text.append(separator) }
            switch rng.next() % 6 {
            case 0: text += [UInt8(ascii: "\"")] + Array("a\(Character(UnicodeScalar(separator)))b".utf8) + [10, UInt8(ascii: "\""), UInt8(ascii: "\""), UInt8(ascii: "\"")]
            case 1: text += Array("5\"x".utf8)
            default: text += Array(String(rng.next() % 1000).utf8)
            }
          }
          text += rng.next() % 4 == 0 ? [13, 10] : [10]
        }
      }
      text.withUnsafeBufferPointer { bytes in
        let fast = RecordBoundaries(quoted: bytes, separator: separator, parts: parts)
        let scanned = RecordBoundaries(scanning: bytes, separator: separator, parts: parts)
        #expect(fast.end == scanned.end, "trial \(trial)")
        #expect(fast.linesBeforeEnd == scanned.linesBeforeEnd, "trial \(trial)")
        #expect(fast.cuts.map(\.offset) == scanned.cuts.map(\.offset), "trial \(trial)")
        #expect(fast.cuts.map(\.lines) == scanned.cuts.map(\.lines), "trial \(trial)")
      }
    }
  }
}

@Suite("Hashing identifiers")
struct IdentifierHashTests {
  @Test("identifiers that differ in a digit spread evenly over a table's first slots and its low bits, without a collision", arguments: ["C", "O", "", "2024-01-"])
  func spread(prefix: String) {
    let count = 200_000
    let hashes = (0..<count).map { i in
      Array("\(prefix)\(i)".utf8).withUnsafeBufferPointer { hashBytes($0) }
    }
    #expect(Set(hashes).count == count)
    // 4,096 buckets of about 49 each, by the top bits (a slot) and by the low bits (a set).
    for bucket in [{ (h: UInt64) in Int(h >> 52) }, { (h: UInt64) in Int(h & 0xFFF) }] {
      var counts = [Int](repeating: 0, count: 4096)
      for h in hashes { counts[bucket(h)] += 1 }
      let expected = Double(count) / 4096
      let chiSquare = counts.reduce(0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
      // 4,095 degrees of freedom: the statistic is 4,095 ± 91; 4,600 is over five deviations.
      #expect(chiSquare < 4600, "\(chiSquare)")
    }
  }

  @Test("every byte and the length count, at every length up to three words")
  func everyByte() {
    var seen = Set<UInt64>()
    var inputs = 0
    for length in 0...24 {
      let base = [UInt8](repeating: 0x41, count: length)
      seen.insert(base.withUnsafeBufferPointer { hashBytes($0) })
      inputs += 1
      for position in 0..<length {
        for flip in [UInt8(1), 0x80] {
          var changed = base
          changed[position] ^= flip
          seen.insert(changed.withUnsafeBufferPointer { hashBytes($0) })
          inputs += 1
        }
      }
    }
    #expect(seen.count == inputs)
  }
}

@Suite("Unquoted lines")
struct UnquotedLineTests {
  static let layout = RowLayout(
    separator: UInt8(ascii: ","), encoding: .utf8, fieldCount: 5, customer: 0, date: 2, order: 1, amount: 3, quantity: nil, price: nil,
    category: 4, promo: nil, product: nil, isRetailExport: false)

  @Test("lines without quotes parse in place exactly as the tokenizer parses them", arguments: [false, true])
  func sameAsTokenizer(isEnd: Bool) throws {
    var rng = SplitMix64(seed: isEnd ? 2 : 1)
    var rows = 0, usable = 0
    let pieces = ["C1", "C22", " C3 ", "O9", "2024-03-01", "01/02/2024", "bad", "12.50", "-3", "1,5", "", "x\r", "\r", "toys", "é", "garden-and-outdoor-furniture"]
    for _ in 0..<300 {
      var text: [UInt8] = []
      for _ in 0..<Int(rng.next() % 12) {
        if rng.next() % 4 != 0 {
          // The file's columns, now and then with a bad value or a stray carriage return.
          let columns = [["C1", "C22", " C3 ", "é", ""], ["O1", "O2", "O9", ""], ["2024-03-01", "2024-03-02", "bad"], ["12.50", "-3", "1,5", "0"], ["toys", "", "x\r"]]
          text += Array(columns.map { $0[Int(rng.next() % UInt64($0.count))] }.joined(separator: ",").utf8)
        } else {
          // Now and then more fields than the parser first makes room for.
          let fields = rng.next() % 10 == 0 ? 60 + Int(rng.next() % 20) : Int(rng.next() % 7)
          for f in 0..<fields {
            if f > 0 { text.append(UInt8(ascii: ",")) }
            text += Array(pieces[Int(rng.next() % UInt64(pieces.count))].utf8)
          }
        }
        switch rng.next() % 6 {
        case 0: text += [13, 10]
        case 1: text += [10, 10]
        case 2: text += [13, 13, 10]
        default: text.append(10)
        }
      }
      if isEnd && rng.next() % 2 == 0 { text += Array("C9,O1,2024-01-02,3".utf8) }
      try text.withUnsafeBufferPointer { bytes in
        // Without isEnd, the part ends at the last line feed, as the boundaries cut it.
        let whole = isEnd ? bytes : UnsafeBufferPointer(rebasing: bytes[0..<((bytes.lastIndex(of: 10) ?? -1) + 1)])
        let fast = Self.layout.parseUnquoted(whole, firstLine: 7)
        let tokenized = try Self.layout.parseTokenized(whole, firstLine: 7, isEnd: isEnd)
        #expect(fast.rows == tokenized.rows)
        #expect(fast.arena == tokenized.arena)
        rows += fast.rows.count
        usable += fast.rows.filter { $0.outcome == .usable }.count
      }
    }
    #expect(rows > 1000 && usable > 20, "\(rows) rows, \(usable) usable")
  }
}

@Suite("The per-customer file")
struct CustomerFileTests {
  /// The file as a field-by-field writer makes it, with `csvField` and printf, in the
  /// order of `CustomerColumn`.
  static func reference(_ c: CustomerResults) -> String {
    var lines = [CustomerColumn.allCases.map(\.rawValue).joined(separator: ",")]
    for i in 0..<c.table.count {
      lines.append(
        CustomerColumn.allCases.map { column -> String in
          switch column {
          case .customerId: csvField(c.table.ids[i])
          case .segment: csvField(c.segment[i].rawValue)
          case .lifecycleGroup: c.group[i].rawValue
          case .cluster: String(c.cluster[i])
          case .clusterName: c.clusterNames[Int(c.cluster[i])].description
          case .recencyDays: String(c.table.recency[i])
          case .frequency: String(c.table.frequency[i])
          case .monetary: String(format: "%.2f", c.table.monetary[i])
          case .averageOrderValue: String(format: "%.2f", c.table.averageOrderValue(i))
          case .rScore: String(c.scores.r[i])
          case .fScore: String(c.scores.f[i])
          case .mScore: String(c.scores.m[i])
          case .probabilityAlive: String(format: "%.4f", c.probabilityAlive[i])
          case .expectedPurchases: String(format: "%.4f", c.expectedPurchases[i])
          case .predictedCLV: String(format: "%.2f", c.predictedCLV[i])
          }
        }.joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  @Test("each row is its fields as csvField and printf write them: identifiers to quote or neutralise, one longer than the writer's buffer, numbers too large for the fast path or not finite")
  func rows() throws {
    var customers = try Analyzer.run(sampleData(customers: 300)).customers
    var ids = Array(customers.table.ids)
    ids[0] = "=cmd|' /C calc'!A0"
    ids[1] = "Dupont, \"Jean\"\nsecond line"
    ids[2] = String(repeating: "long,", count: 300_000)  // 1.5 MB once quoted
    ids[3] = "é-ü 客户"
    customers.table.ids = CustomerIDs(ids)
    customers.probabilityAlive[4] = .nan
    customers.expectedPurchases[5] = .infinity
    customers.predictedCLV[6] = -1e300
    customers.table.monetary[7] = .greatestFiniteMagnitude
    customers.predictedCLV[8] = 4_503_599_627_370_495.5
    customers.predictedCLV[9] = -0.0
    #expect(String(decoding: customers.csvData(), as: UTF8.self) == Self.reference(customers))
  }

  @Test("segments and lifecycle groups are numbered in the order of allCases")
  func indices() {
    #expect(RFMSegment.allCases.map(\.index) == Array(RFMSegment.allCases.indices))
    #expect(LifecycleGroup.allCases.map(\.index) == Array(LifecycleGroup.allCases.indices))
  }
}

@Suite("Customer identifiers")
struct CustomerIDsTests {
  /// The identifiers reading would hold for `keys`, and the Strings each key decoded to
  /// before (`decodeText`, key by key).
  static func readBack(_ keys: [[UInt8]], encoding: TextEncoding) -> (ids: CustomerIDs, decoded: [String]) {
    var table = ByteInterner(capacity: 4)
    for key in keys { _ = key.withUnsafeBufferPointer { table.intern($0, hash: hashBytes($0)) } }
    let decoded = (0..<table.count).map { i in table.withKey(i) { decodeText($0, encoding: encoding) } }
    return (CustomerIDs(reading: table, encoding: encoding), decoded)
  }

  @Test(
    "identifiers kept as read give the Strings decoding each gave: packed, UUIDs, long, accented, padded, Windows-1252, not UTF-8",
    arguments: [
      (["C1", "A-9_z", "0000000000", ""], TextEncoding.utf8),
      (["3f2504e0-4f89-41d3-9a0c-0305e82c3301", "00000000-0000-4000-8000-000000000000"], .utf8),
      (["3F2504E0-4F89-41D3-9A0C-0305E82C3301", "C9BF9E57-1685-4C89-BAFB-FF5AF830BE8A"], .utf8),
      (["customer.000001@example-mail-provider.com", "C1", "3f2504e0-4f89-41d3-9a0c-0305e82c3301"], .utf8),
      (["Élodie", "客户 7", "C1"], .utf8),
      ([" C3 ", "C3", "\tC4"], .utf8),
      (["Caf\u{E9}", "plain"], .windows1252),
    ])
  func readAsText(keys: [String], encoding: TextEncoding) {
    // Windows-1252 files hold one byte a character: é is 0xE9 there.
    let bytes = keys.map { key in encoding == .windows1252 ? key.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) } : Array(key.utf8) }
    let (ids, decoded) = Self.readBack(bytes, encoding: encoding)
    #expect(Array(ids) == decoded)
    #expect(ids.count == decoded.count)
    for (i, id) in decoded.enumerated() { #expect(ids.withUTF8(i) { Array($0) } == Array(id.utf8)) }
  }

  @Test("bytes that are not UTF-8 are decoded as reading decoded them, two of them possibly to one text")
  func notUTF8() {
    let (ids, decoded) = Self.readBack([[0x41, 0xFF], [0x41, 0xFE], [0x42]], encoding: .utf8)
    #expect(Array(ids) == decoded && ids.count == 3)
  }

  @Test("identifiers made from Strings, selected and compared keep their order and text", arguments: [0, 1, 5000])
  func madeAndSelected(count: Int) {
    var rng = SplitMix64(seed: UInt64(count))
    // Ids that share their first eight or sixteen bytes, and end there or go on.
    let shapes = ["C\(count)", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "someone@example.org", "é", "customer-000000", "customer-0000000", "customer-0000000-"]
    let strings = (0..<count).map { i in
      i < count / 2 ? "C\(rng.next() % 1000)" : shapes[Int(rng.next() % 7)] + (rng.next() % 2 == 0 ? "" : "\(rng.next() % 50)")
    }
    let ids = CustomerIDs(strings)
    #expect(Array(ids) == strings && ids == CustomerIDs(strings))
    let positions = (0..<count).filter { _ in rng.next() % 3 == 0 }
    #expect(Array(ids.selecting(positions)) == positions.map { strings[$0] })
    if count > 1 { #expect(ids != CustomerIDs(strings.reversed()) || strings == strings.reversed()) }
    // In identifier byte order, every row once.
    let order = RFMScores.idOrder(ids)
    #expect(order.sorted() == Array(0..<count))
    #expect(zip(order, order.dropFirst()).allSatisfy { !strings[$1].utf8.lexicographicallyPrecedes(strings[$0].utf8) })
  }
}
