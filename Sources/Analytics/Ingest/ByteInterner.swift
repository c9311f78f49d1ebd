import CPrefetch

/// Maps byte strings (customer or order identifiers) to dense indices 0, 1, 2…, storing
/// each distinct key once: packed in eight bytes while every key packs (`PackedKey`), in
/// sixteen while every key is a UUID (`UUIDKey`), else in one contiguous arena. Exact: keys
/// are compared whole, the hash only picks the slot. Much lighter than a `[String: Int]`
/// for millions of keys.
struct ByteInterner {
  /// One open-addressing slot: the high half of the key's hash beside its index, so that a
  /// probe touches one cache line and compares bytes only when the hashes agree. A key's
  /// first slot is the top bits of that half (`home`): a table twice the size is then made
  /// from the slots alone, in one pass in order, where hashing every key again from its
  /// bytes wrote a million slots at random.
  private struct Slot {
    var tag: UInt32
    var index: Int32
  }

  /// Each key packed, at its index, while every key packs: most identifiers do (digits,
  /// letters, at most ten). Eight bytes a key where the arena and its offset took the
  /// key's length and four more, and a lookup compares with one value where it read an
  /// offset, then the bytes it points to: two waits on memory, one after the other.
  /// UUIDs take two words, at twice their index.
  private var packed: [UInt64] = []
  /// How the keys are held: packed (one word a key), UUIDs (two words a key, in `packed`
  /// too) or the arena. The first key picks packed or UUIDs; the first that does not fit
  /// moves every key to the arena, once.
  private var form = KeyForm.packed
  /// Whether the UUIDs' hex letters are uppercase; nil while no key held a letter.
  private var uuidUppercase: Bool?
  private var arena: [UInt8] = []
  /// Where each key starts in the arena (and the last ends), modulo 2³²: four bytes a key
  /// instead of eight, a tenth of the memory of a million orders' table.
  private var offsets: [UInt32] = [0]
  /// The indices of `offsets` from which a position is another 2³² further on: empty
  /// unless the arena outgrows 4 GiB.
  private var wraps: [Int] = []
  /// 32, the bits of a stored offset; fewer only in tests, which cannot fill 4 GiB.
  private let offsetBits: Int
  /// Any number of slots, not a power of two: a table reserved for a known count is sized
  /// to it (50 M orders take 71 M slots, where the next power of two was 128 M, half a
  /// gigabyte more).
  private var slots: [Slot]
  /// Whether the table was sized for a count (`reserve`): past it, it grows by a quarter,
  /// the count having been estimated a little high already, where doubling the table of a
  /// large file at its fullest took the memory the exact size saved, and more.
  private var isReserved = false

  init(capacity: Int = 1024, offsetBits: Int = 32) {
    self.offsetBits = offsetBits
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    slots = Array(repeating: Slot(tag: 0, index: -1), count: size)
  }

  /// The first slot a key whose hash has this `tag` may take: the tag scaled to the table
  /// (a multiplication, not a modulo), so that homes run in the order of the tags whatever
  /// the table's size; `grow` relies on it.
  @inline(__always) private func home(_ tag: UInt32) -> Int { Self.home(tag, size: slots.count) }

  @inline(__always) private static func home(_ tag: UInt32, size: Int) -> Int {
    Int(truncatingIfNeeded: (UInt64(tag) &* UInt64(truncatingIfNeeded: size)) >> 32)
  }

  /// The slot after `slot`, the first after the last.
  @inline(__always) private static func next(_ slot: Int, size: Int) -> Int {
    slot + 1 == size ? 0 : slot + 1
  }

  /// Number of distinct keys.
  var count: Int {
    switch form {
    case .packed: packed.count
    case .uuid: packed.count / 2
    case .arena: offsets.count - 1
    }
  }

  /// Number of slots of the table, for tests.
  var slotCount: Int { slots.count }

  /// The key stored at `index`.
  func key(_ index: Int) -> [UInt8] { withKey(index) { Array($0) } }

  /// `body` of the bytes of the key stored at `index`, read in place.
  func withKey<Result>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    switch form {
    case .packed: return PackedKey(value: packed[index]).withBytes(body)
    case .uuid: return UUIDKey(high: packed[2 * index], low: packed[2 * index + 1]).withBytes(uppercase: uuidUppercase ?? false, body)
    case .arena: break
    }
    let (start, end) = (offset(index), offset(index + 1))
    return arena.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
  }

  /// The arena position `offsets[index]` stands for.
  @inline(__always) private func offset(_ index: Int) -> Int {
    var high = 0
    for start in wraps where index >= start { high += 1 }
    return Int(offsets[index]) + high << offsetBits
  }

  /// A table of keys only, in their compact forms, without the slots that find them: what
  /// stays of a table once nothing more is looked up (`withoutIndex`), or is filled by
  /// `appendUnindexed`.
  static func keysOnly() -> ByteInterner {
    var table = ByteInterner(capacity: 1)
    table.slots = []
    return table
  }

  /// The keys of this table without its slots, sharing their storage: `index(of:)` and
  /// `intern` are not for it.
  func withoutIndex() -> ByteInterner {
    var keys = self
    keys.slots = []
    return keys
  }

  /// Adds `bytes` as the next key, in the table's form, without looking it up: the same
  /// key may be held twice. For a table of keys only (`keysOnly`, `withoutIndex`).
  mutating func appendUnindexed(_ bytes: UnsafeBufferPointer<UInt8>) {
    append(fit(bytes), bytes)
  }

  /// A key as the table's form holds it.
  private enum FittedKey {
    case packed(PackedKey)
    /// A UUID, with the case of its letters (nil: it has none).
    case uuid(UUIDKey, uppercase: Bool?)
    /// The key's own bytes, in the arena.
    case bytes
  }

  /// `bytes` in the table's form, the form changed first when they call for it: the first
  /// key of a table makes it one of UUIDs when it is one, and a key that does not fit the
  /// form moves every key to the arena, once.
  @inline(__always)
  private mutating func fit(_ bytes: UnsafeBufferPointer<UInt8>) -> FittedKey {
    switch form {
    case .packed:
      if let key = PackedKey(bytes) { return .packed(key) }
      if count == 0, let (key, uppercase) = uuidKey(bytes) {
        form = .uuid
        return .uuid(key, uppercase: uppercase)
      }
    case .uuid:
      if let (key, uppercase) = uuidKey(bytes) { return .uuid(key, uppercase: uppercase) }
    case .arena:
      return .bytes
    }
    unpackAll()
    return .bytes
  }

  /// Adds a fitted key after the others (`bytes`, its bytes); a UUID's case becomes the
  /// table's if it had letters.
  @inline(__always)
  private mutating func append(_ key: FittedKey, _ bytes: UnsafeBufferPointer<UInt8>) {
    switch key {
    case .packed(let key):
      packed.append(key.value)
    case .uuid(let key, let uppercase):
      packed.append(key.high)
      packed.append(key.low)
      if let uppercase { uuidUppercase = uppercase }
    case .bytes:
      store(bytes)
    }
  }

  /// Whether every key is its own text in any encoding read: ASCII (which the packed and
  /// UUID forms always are) and without spaces or tabs at either end, which reading trims.
  var keysAreText: Bool {
    guard form == .arena else { return true }
    let asciiOnly = arena.withUnsafeBufferPointer { bytes -> Bool in
      guard let base = UnsafeRawPointer(bytes.baseAddress) else { return true }
      var i = 0
      var high: UInt64 = 0
      while i + 8 <= bytes.count {
        high |= base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        i += 8
      }
      while i < bytes.count {
        high |= UInt64(bytes[i])
        i += 1
      }
      return high & 0x8080_8080_8080_8080 == 0
    }
    guard asciiOnly else { return false }
    return (0..<count).allSatisfy { index in
      withKey(index) { key in
        guard let first = key.first, let last = key.last else { return true }
        return first != 0x20 && first != 0x09 && last != 0x20 && last != 0x09
      }
    }
  }

  /// The index of `bytes` if it is held, without adding it; `hash` is `hashBytes(bytes)`.
  func index(of bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int? {
    let tag = UInt32(truncatingIfNeeded: hash >> 32)
    // A key that does not fit the form was never added while all keys fit it.
    switch form {
    case .packed: return PackedKey(bytes).flatMap { probe($0, tag: tag).found }
    case .uuid: return uuidKey(bytes).flatMap { probe($0.key, tag: tag).found }
    case .arena: return probe(bytes, tag: tag).found
    }
  }

  /// The slots from the home of `tag` on, up to the key `bytes` in the arena (`found`, its
  /// index) or the empty slot where it would go.
  @inline(__always)
  private func probe(_ bytes: UnsafeBufferPointer<UInt8>, tag: UInt32) -> (found: Int?, slot: Int) {
    probe(tag: tag) { equals($0, bytes) }
  }

  /// `probe` while the keys are packed: they compare as values.
  @inline(__always)
  private func probe(_ key: PackedKey, tag: UInt32) -> (found: Int?, slot: Int) {
    packed.withUnsafeBufferPointer { packed in probe(tag: tag) { packed[$0] == key.value } }
  }

  /// `probe` while the keys are UUIDs: they compare as two values.
  @inline(__always)
  private func probe(_ key: UUIDKey, tag: UInt32) -> (found: Int?, slot: Int) {
    packed.withUnsafeBufferPointer { packed in probe(tag: tag) { packed[2 * $0] == key.high && packed[2 * $0 + 1] == key.low } }
  }

  /// The UUID of `bytes` and the case of its letters, when it is one whose letters are in
  /// the case of the keys held.
  @inline(__always)
  private func uuidKey(_ bytes: UnsafeBufferPointer<UInt8>) -> (key: UUIDKey, uppercase: Bool?)? {
    guard let (key, uppercase) = UUIDKey.parse(bytes) else { return nil }
    if let uppercase, let held = uuidUppercase, uppercase != held { return nil }
    return (key, uppercase)
  }

  /// The slots from the home of `tag` on, up to the first whose tag matches and whose key
  /// `isKey` of its index, or the empty slot where the key would go.
  @inline(__always)
  private func probe(tag: UInt32, _ isKey: (Int) -> Bool) -> (found: Int?, slot: Int) {
    var slot = home(tag)
    return slots.withUnsafeBufferPointer { slots in
      while true {
        let existing = slots[slot]
        if existing.index < 0 { return (nil, slot) }
        if existing.tag == tag && isKey(Int(existing.index)) { return (Int(existing.index), slot) }
        slot = Self.next(slot, size: slots.count)
      }
    }
  }

  /// The index of `bytes`, adding it when new; `isNew` tells which. `hash` is
  /// `hashBytes(bytes)`, computed beforehand by a parsing thread.
  mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (index: Int, isNew: Bool) {
    let tag = UInt32(truncatingIfNeeded: hash >> 32)
    let key = fit(bytes)
    let (found, slot) =
      switch key {
      case .packed(let key): probe(key, tag: tag)
      case .uuid(let key, _): probe(key, tag: tag)
      case .bytes: probe(bytes, tag: tag)
      }
    if let found { return (found, false) }
    let index = count
    slots[slot] = Slot(tag: tag, index: Int32(index))
    append(key, bytes)
    // Up to 70 % full: a probe for a new key reads about six slots of eight bytes, most
    // often in one cache line, and a million keys need half the table that 50 % would.
    if count * 10 > slots.count * 7 { grow() }
    return (index, true)
  }

  /// Appends a key's bytes to the arena and its end to the offsets.
  private mutating func store(_ bytes: UnsafeBufferPointer<UInt8>) {
    arena.append(contentsOf: bytes)
    offsets.append(UInt32(truncatingIfNeeded: arena.count & (1 << offsetBits - 1)))
    while arena.count >> offsetBits > wraps.count { wraps.append(offsets.count - 1) }
  }

  /// Moves the packed keys or UUIDs to the arena, in order: a key that does not fit has come.
  private mutating func unpackAll() {
    let (keys, wasForm) = (packed, form)
    (packed, form) = ([], .arena)
    if wasForm == .packed {
      arena.reserveCapacity(keys.count * PackedKey.longest)
      offsets.reserveCapacity(keys.count + 1)
      for value in keys { PackedKey(value: value).withBytes { store($0) } }
    } else {
      arena.reserveCapacity(keys.count / 2 * UUIDKey.length)
      offsets.reserveCapacity(keys.count / 2 + 1)
      for i in stride(from: 0, to: keys.count, by: 2) {
        UUIDKey(high: keys[i], low: keys[i + 1]).withBytes(uppercase: uuidUppercase ?? false) { store($0) }
      }
    }
  }

  /// Starts loading what a lookup of a key with `hash` will read, in three steps taken at
  /// decreasing distances ahead: `step` 0 the slot; 1, once the slot is in cache, the
  /// offset of the key its tag points to; 2, once that is in cache, the key's bytes. A hit
  /// otherwise waits on three loads one after the other. Packed keys need two: step 1
  /// loads the key, step 2 has nothing left to load.
  /// Returns, from step 1 on, the index the key probably has (its tag matched; nil when not
  /// found in the first probes), for the caller's own prefetches.
  /// Mutating only so that `self` is accessed in place: as a plain method its three
  /// buffers were retained and released on every call, several times a line.
  @inline(__always) @discardableResult
  mutating func prefetch(_ hash: UInt64, step: Int) -> Int? {
    let tag = UInt32(truncatingIfNeeded: hash >> 32)
    let first = home(tag)
    return slots.withUnsafeBufferPointer { slots -> Int? in
      if step == 0 {
        fidelis_prefetch(slots.baseAddress! + first)
        return nil
      }
      var slot = first
      // A few probes at most: the table is at most 70 % full.
      for _ in 0..<4 {
        let existing = slots[slot]
        if existing.index < 0 { return nil }
        if existing.tag == tag {
          if form != .arena {
            let word = form == .packed ? Int(existing.index) : 2 * Int(existing.index)
            if step == 1 { packed.withUnsafeBufferPointer { fidelis_prefetch($0.baseAddress! + word) } }
            return Int(existing.index)
          }
          offsets.withUnsafeBufferPointer { offsets in
            let index = Int(existing.index)
            if step == 1 {
              fidelis_prefetch(offsets.baseAddress! + index)
            } else {
              let start = wraps.isEmpty ? Int(offsets[index]) : offset(index)
              arena.withUnsafeBufferPointer { arena in fidelis_prefetch(arena.baseAddress! + start) }
            }
          }
          return Int(existing.index)
        }
        slot = Self.next(slot, size: slots.count)
      }
      return nil
    }
  }

  /// Makes room for `count` keys in all, so that the table does not grow before. The key
  /// bytes get room for `count` keys of the mean length so far: a capacity that is not
  /// written to is not resident, while doubling late in a large file copied the bytes
  /// held so far beside themselves at the moment memory was highest.
  mutating func reserve(_ count: Int) {
    if form != .arena {
      packed.reserveCapacity(form == .packed ? count : 2 * count)
    } else if self.count > 0 {
      let bytes = Double(arena.count) / Double(self.count) * Double(count)
      if bytes > Double(arena.capacity), bytes < Double(Int.max / 2) { arena.reserveCapacity(Int(bytes)) }
    }
    // The fewest slots that hold `count` keys at most 70 % full.
    let size = (count * 10 + 6) / 7
    guard size > slots.count else { return }
    isReserved = true
    if form == .arena { offsets.reserveCapacity(count + 1) }
    grow(to: size)
  }

  private func equals(_ index: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    let start = offset(index)
    let end = offset(index + 1)
    guard end - start == bytes.count else { return false }
    guard bytes.count > 0, let key = bytes.baseAddress else { return true }
    return arena.withUnsafeBufferPointer { arena in sameBytes(arena.baseAddress! + start, key, count: bytes.count) }
  }

  private mutating func grow(to size: Int? = nil) {
    let size = size ?? (isReserved ? slots.count + slots.count / 4 : slots.count * 2)
    let old = slots
    slots = Array(repeating: Slot(tag: 0, index: -1), count: size)
    // The old slots in order have their homes in order (but for a run wrapped past the
    // end): the new table is written almost in sequence.
    slots.withUnsafeMutableBufferPointer { slots in
      for entry in old where entry.index >= 0 {
        var slot = Self.home(entry.tag, size: size)
        while slots[slot].index >= 0 { slot = Self.next(slot, size: size) }
        slots[slot] = entry
      }
    }
  }
}

/// Whether the `count` bytes at `a` and at `b` are the same, eight at a time: a key that
/// does not pack (a category such as `electronics`, an e-mail address) is compared on
/// every line that names it, where a loop took a byte and a bounds check at a time.
@inline(__always)
func sameBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, count: Int) -> Bool {
  let (a, b) = (UnsafeRawPointer(a), UnsafeRawPointer(b))
  if count >= 8 {
    var i = 0
    while i + 8 <= count {
      if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
      i += 8
    }
    // The last eight bytes, which overlap the words already compared.
    return i == count || a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
  }
  if count >= 4 {
    return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
      && a.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
  }
  for i in 0..<count where a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
  return true
}

/// How `ByteInterner` holds its keys.
private enum KeyForm {
  case packed
  case uuid
  case arena
}

/// A UUID written as exports write them, 36 bytes (8-4-4-4-12 hex digits with dashes), in
/// two UInt64: its 32 hex digits, the first in the top bits. The dashes are where they
/// must be and the letters' case is the interner's, so the bytes come back exactly;
/// sixteen bytes a key where the arena took forty.
struct UUIDKey: Hashable {
  /// The length of a UUID's text.
  static let length = 36
  var high: UInt64
  var low: UInt64

  init(high: UInt64, low: UInt64) {
    (self.high, self.low) = (high, low)
  }

  /// The UUID of `bytes` and whether its letters are uppercase (nil: it has none); nil
  /// when `bytes` are not a UUID, or mix lowercase and uppercase letters.
  @inline(__always)
  static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> (key: UUIDKey, uppercase: Bool?)? {
    guard bytes.count == length, bytes[8] == 0x2D, bytes[13] == 0x2D, bytes[18] == 0x2D, bytes[23] == 0x2D else { return nil }
    // Every line of a file keyed by UUIDs comes here twice, on the merge's thread: a table
    // lookup a digit, its kind ORed into one value checked once, keeps it a few
    // nanoseconds a key.
    return hexDigitTable.withUnsafeBufferPointer { table -> (key: UUIDKey, uppercase: Bool?)? in
      var kinds: UInt8 = 0
      @inline(__always) func digits(_ range: Range<Int>, into word: inout UInt64) {
        for i in range {
          let entry = table[Int(bytes[i])]
          kinds |= entry
          word = word << 4 | UInt64(entry & 15)
        }
      }
      var (high, low): (UInt64, UInt64) = (0, 0)
      digits(0..<8, into: &high)
      digits(9..<13, into: &high)
      digits(14..<18, into: &high)
      digits(19..<23, into: &low)
      digits(24..<36, into: &low)
      let (lower, upper, invalid) = (kinds & 0x10 != 0, kinds & 0x20 != 0, kinds & 0x40 != 0)
      guard !invalid, !(lower && upper) else { return nil }
      return (UUIDKey(high: high, low: low), lower ? false : upper ? true : nil)
    }
  }

  /// Per byte: its hex value in the low four bits, 0x10 for a lowercase letter, 0x20 for an
  /// uppercase one, 0x40 for a byte that is no hex digit.
  private static let hexDigitTable: [UInt8] = (0..<256).map { byte -> UInt8 in
    switch byte {
    case 0x30...0x39: UInt8(byte - 0x30)
    case 0x61...0x66: UInt8(byte - 0x61 + 10) | 0x10
    case 0x41...0x46: UInt8(byte - 0x41 + 10) | 0x20
    default: 0x40
    }
  }

  /// `body` of the UUID's text, its letters uppercase when `uppercase`.
  func withBytes<Result>(uppercase: Bool, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.length) { buffer in
      let letter: UInt8 = uppercase ? 0x41 - 10 : 0x61 - 10
      var digit = 0
      for position in 0..<Self.length {
        if position == 8 || position == 13 || position == 18 || position == 23 {
          buffer[position] = 0x2D
          continue
        }
        let word = digit < 16 ? high : low
        let value = UInt8(truncatingIfNeeded: word >> UInt64(4 * (15 - digit % 16))) & 15
        buffer[position] = value < 10 ? 0x30 + value : letter + value
        digit += 1
      }
      return body(UnsafeBufferPointer(buffer))
    }
  }
}

/// A key of at most ten bytes, each one of the 64 characters 0–9, A–Z, a–z, `-` and `_`,
/// in one UInt64: its length in the top four bits, each byte's six-bit code below, the
/// first byte lowest. Two such keys are equal exactly when their values are.
struct PackedKey: Equatable {
  /// The longest key that packs: ten codes of six bits, with the length above them.
  static let longest = 10
  var value: UInt64

  init(value: UInt64) { self.value = value }

  /// The key of `bytes`; nil when they are longer than `longest` or hold another character.
  @inline(__always)
  init?(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard bytes.count <= Self.longest else { return nil }
    var value = UInt64(bytes.count) << 60
    var shift: UInt64 = 0
    for byte in bytes {
      let code: UInt8
      switch byte {
      case 0x30...0x39: code = byte - 0x30  // 0–9
      case 0x41...0x5A: code = byte - 0x41 + 10  // A–Z
      case 0x61...0x7A: code = byte - 0x61 + 36  // a–z
      case 0x2D: code = 62  // -
      case 0x5F: code = 63  // _
      default: return nil
      }
      value |= UInt64(code) << shift
      shift += 6
    }
    self.value = value
  }

  /// `body` of the key's bytes.
  func withBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    let count = Int(value >> 60)
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.longest) { buffer in
      for i in 0..<count {
        let code = UInt8(truncatingIfNeeded: value >> UInt64(6 * i)) & 63
        buffer[i] =
          switch code {
          case 0..<10: 0x30 + code
          case 10..<36: 0x41 + code - 10
          case 36..<62: 0x61 + code - 36
          case 62: 0x2D
          default: 0x5F
          }
      }
      return body(UnsafeBufferPointer(rebasing: buffer[0..<count]))
    }
  }
}

/// A set of 64-bit hashes (open addressing), for spotting repeated lines without the
/// cost of the standard library's seeded hashing on a million inserts.
struct HashSet64 {
  private var slots: [UInt64]
  private var mask: Int
  private(set) var count = 0

  init(capacity: Int = 1024) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    slots = Array(repeating: 0, count: size)
    mask = size - 1
  }

  /// Adds `value`; false when it was already there.
  mutating func insert(_ value: UInt64) -> Bool {
    let key = value == 0 ? 1 : value  // 0 marks an empty slot
    var slot = Int(truncatingIfNeeded: key) & mask
    while slots[slot] != 0 {
      if slots[slot] == key { return false }
      slot = (slot + 1) & mask
    }
    slots[slot] = key
    count += 1
    if count * 2 > slots.count {
      let old = slots
      slots = Array(repeating: 0, count: old.count * 2)
      mask = slots.count - 1
      for key in old where key != 0 {
        var slot = Int(truncatingIfNeeded: key) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = key
      }
    }
    return true
  }

  /// Whether `value` was added.
  func contains(_ value: UInt64) -> Bool {
    let key = value == 0 ? 1 : value
    var slot = Int(truncatingIfNeeded: key) & mask
    while slots[slot] != 0 {
      if slots[slot] == key { return true }
      slot = (slot + 1) & mask
    }
    return false
  }
}


/// A 64-bit hash of bytes taken eight at a time, for identifiers and whole lines. Each
/// word is folded into the state by a full 64 × 64 → 128-bit product whose halves are
/// xored (wyhash's "mum"): every bit of the word reaches every bit of the state, and a word
/// costs one multiplication where a byte-at-a-time hash (FNV-1a, used before) chained eight,
/// which was most of a line's parse. The length enters first, so the last, partial word is
/// read as overlapping pieces without two lengths meeting.
@inline(__always)
func hashBytes(_ bytes: UnsafeBufferPointer<UInt8>, seed: UInt64 = 0x243F_6A88_85A3_08D3) -> UInt64 {
  let count = bytes.count
  var state = fold(seed ^ UInt64(truncatingIfNeeded: count), 0xA076_1D64_78BD_642F)
  guard let base = UnsafeRawPointer(bytes.baseAddress) else { return state }
  var i = 0
  while i + 8 <= count {
    state = fold(state ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self), 0xE703_7ED1_A0B4_28DB)
    i += 8
  }
  let left = count - i
  if left > 0 {
    // 4 to 7 bytes: two four-byte reads that overlap; 1 to 3: the first, middle and last
    // byte. Either way every byte is read, and, the length being known, no two tails give
    // the same word.
    let tail: UInt64 =
      left >= 4
      ? UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt32.self)) | UInt64(base.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)) << 32
      : UInt64(bytes[i]) | UInt64(bytes[i + left / 2]) << 8 | UInt64(bytes[count - 1]) << 16
    state = fold(state ^ tail, 0x8EBC_6AF0_9C88_C6E3)
  }
  return fold(state, 0x5899_65CC_7537_4CC3)
}

/// The hash of a line so far (`hash`) with its next field's `hashBytes` mixed in: the order
/// of the fields counts, so two lines with the same fields in other columns differ.
@inline(__always)
func mixedLineHash(_ hash: UInt64, _ fieldHash: UInt64) -> UInt64 {
  fold(hash ^ fieldHash, 0x9E37_79B9_7F4A_7C15)
}

/// The high and low halves of a × b, xored.
@inline(__always)
private func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
  let product = a.multipliedFullWidth(by: b)
  return product.high ^ product.low
}

/// Spreads a 64-bit key's bits over the low ones (murmur3's finaliser, first half): hash sets
/// index their slots by the low bits.
@inline(__always)
func finalMix(_ key: UInt64) -> UInt64 {
  var key = key
  key ^= key >> 33
  key &*= 0xff51_afd7_ed55_8ccd
  key ^= key >> 33
  return key
}
