/// A character of a field as words are compared whatever their case and accents: status
/// values, placeholder ids, month names. Read from the bytes, in UTF-8 or Windows-1252
/// alike, without decoding the field: these run on every line of a file.
enum FoldedCharacter: Equatable {
  /// An ASCII letter, lower-cased, or a Latin letter folded to one: `É`, `è`, `ê`, `ë` as
  /// `e`, `ù`, `û`, `ü` as `u`, `ô` as `o`, capitals too.
  case letter(UInt8)
  /// A letter that folds to none (`ß`, `ñ`, any other non-ASCII byte).
  case otherLetter
  /// A digit, a space, punctuation.
  case other

  /// The character of `field` at `index`, which moves past it (one byte, or two for a
  /// UTF-8 letter of the Latin-1 range).
  @inline(__always)
  static func next(_ field: UnsafeBufferPointer<UInt8>, at index: inout Int) -> FoldedCharacter {
    let byte = field[index]
    index += 1
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"): return .letter(byte)
    case UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter(byte | 0x20)
    case 0x00..<0x80: return .other
    default: break
    }
    var latin1 = byte
    if byte == 0xC3, index < field.count, (0x80...0xBF).contains(field[index]) {
      // U+00C0…U+00FF in UTF-8: C3 then the code point's low six bits.
      latin1 = field[index] | 0x40
      index += 1
    }
    switch latin1 {
    case 0xC8...0xCB, 0xE8...0xEB: return .letter(UInt8(ascii: "e"))
    case 0xD9...0xDC, 0xF9...0xFC: return .letter(UInt8(ascii: "u"))
    case 0xD4, 0xF4: return .letter(UInt8(ascii: "o"))
    default: return .otherLetter
    }
  }
}
