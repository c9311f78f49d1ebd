import CPrefetch

/// Maps byte strings (customer or order identifiers) to dense indices 0, 1, 2…, storing
/// each distinct key once: packed in eight bytes while every key packs (`PackedKey`), else
/// in one contiguous arena. Exact: keys are compared whole, the hash only picks the slot.
/// Much lighter than a `[String: Int]` for millions of keys.
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
  /// The first key that does not pack moves every key to the arena, once, in order.
  private var packed: [UInt64] = []
  private var isPacked = true
  private var arena: [UInt8] = []
  /// Where each key starts in the arena (and the last ends), modulo 2³²: four bytes a key
  /// instead of eight, a tenth of the memory of a million orders' table.
  private var offsets: [UInt32] = [0]
  /// The indices of `offsets` from which a position is another 2³² further on: empty
  /// unless the arena outgrows 4 GiB.
  private var wraps: [Int] = []
  /// 32, the bits of a stored offset; fewer only in tests, which cannot fill 4 GiB.
  private let offsetBits: Int
  private var slots: [Slot]
  private var mask: Int
  /// 32 less the bits of a slot number: a tag's first slot is `tag >> homeShift`.
  private var homeShift: Int

  init(capacity: Int = 1024, offsetBits: Int = 32) {
    self.offsetBits = offsetBits
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    slots = Array(repeating: Slot(tag: 0, index: -1), count: size)
    mask = size - 1
    homeShift = 32 - size.trailingZeroBitCount
  }

  /// The first slot a key whose hash has this `tag` may take.
  @inline(__always) private func home(_ tag: UInt32) -> Int { Int(tag >> UInt32(homeShift)) }

  /// Number of distinct keys.
  var count: Int { isPacked ? packed.count : offsets.count - 1 }

  /// The key stored at `index`.
  func key(_ index: Int) -> [UInt8] { withKey(index) { Array($0) } }

  /// `body` of the bytes of the key stored at `index`, read in place.
  func withKey<Result>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    if isPacked { return PackedKey(value: packed[index]).withBytes(body) }
    let (start, end) = (offset(index), offset(index + 1))
    return arena.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
  }

  /// The arena position `offsets[index]` stands for.
  @inline(__always) private func offset(_ index: Int) -> Int {
    var high = 0
    for start in wraps where index >= start { high += 1 }
    return Int(offsets[index]) + high << offsetBits
  }

  /// The index of `bytes` if it is held, without adding it; `hash` is `hashBytes(bytes)`.
  func index(of bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int? {
    let tag = UInt32(truncatingIfNeeded: hash >> 32)
    guard isPacked else { return probe(bytes, tag: tag).found }
    // A key that does not pack was never added while all keys pack.
    return PackedKey(bytes).flatMap { probe($0, tag: tag).found }
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
        slot = (slot + 1) & mask
      }
    }
  }

  /// The index of `bytes`, adding it when new; `isNew` tells which. `hash` is
  /// `hashBytes(bytes)`, computed beforehand by a parsing thread.
  mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (index: Int, isNew: Bool) {
    let tag = UInt32(truncatingIfNeeded: hash >> 32)
    let key = isPacked ? PackedKey(bytes) : nil
    if isPacked && key == nil { unpackAll() }
    let (found, slot) = key.map { probe($0, tag: tag) } ?? probe(bytes, tag: tag)
    if let found { return (found, false) }
    let index = count
    slots[slot] = Slot(tag: tag, index: Int32(index))
    if let key { packed.append(key.value) } else { store(bytes) }
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

  /// Moves the packed keys to the arena, in order: a key that does not pack has come.
  private mutating func unpackAll() {
    let keys = packed
    (packed, isPacked) = ([], false)
    arena.reserveCapacity(keys.count * PackedKey.longest)
    offsets.reserveCapacity(keys.count + 1)
    for value in keys { PackedKey(value: value).withBytes { store($0) } }
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
          if isPacked {
            if step == 1 { packed.withUnsafeBufferPointer { fidelis_prefetch($0.baseAddress! + Int(existing.index)) } }
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
        slot = (slot + 1) & mask
      }
      return nil
    }
  }

  /// Makes room for `count` keys in all, so that the table does not grow before. The key
  /// bytes get room for `count` keys of the mean length so far: a capacity that is not
  /// written to is not resident, while doubling late in a large file copied the bytes
  /// held so far beside themselves at the moment memory was highest.
  mutating func reserve(_ count: Int) {
    if isPacked {
      packed.reserveCapacity(count)
    } else if self.count > 0 {
      let bytes = Double(arena.count) / Double(self.count) * Double(count)
      if bytes > Double(arena.capacity), bytes < Double(Int.max / 2) { arena.reserveCapacity(Int(bytes)) }
    }
    var size = slots.count
    while count * 10 > size * 7 { size <<= 1 }
    guard size > slots.count else { return }
    if !isPacked { offsets.reserveCapacity(count + 1) }
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
    let size = size ?? slots.count * 2
    let old = slots
    slots = Array(repeating: Slot(tag: 0, index: -1), count: size)
    mask = size - 1
    homeShift = 32 - size.trailingZeroBitCount
    // The old slots in order have their homes in order (but for a run wrapped past the
    // end): the new table is written almost in sequence.
    let (shift, mask) = (UInt32(homeShift), mask)
    slots.withUnsafeMutableBufferPointer { slots in
      for entry in old where entry.index >= 0 {
        var slot = Int(entry.tag >> shift)
        while slots[slot].index >= 0 { slot = (slot + 1) & mask }
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
