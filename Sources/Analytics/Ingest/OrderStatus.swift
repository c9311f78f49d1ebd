/// The values of a status column (`ColumnRole.status`) that say a line's order is no sale.
///
/// Shop and payment exports list every order or charge with its state: WooCommerce's
/// `cancelled`, `failed` and `refunded`, Shopify's `voided` and `refunded`, Stripe's
/// `Failed`. Counted as purchases, they add revenue that never came in and orders that
/// never happened, to the customers least likely to come back. Any other value (`paid`,
/// `completed`, `processing`, `pending`, `partially_refunded`, an empty field, or a column
/// named `status` that says something else: `gold`, `active`) keeps the line.
public enum OrderStatus {
  /// The values, as compared: lower-case ASCII letters alone, accents folded
  /// (`Annulée` → `annulee`, `fully-refunded` → `fullyrefunded`).
  public static let noSaleValues: [String] = [
    "cancelled", "canceled", "cancel", "failed", "failure", "fail", "void", "voided", "declined", "denied", "rejected",
    "refunded", "fullyrefunded", "reversed", "chargedback", "chargeback", "returned", "expired", "abandoned",
    "trash", "trashed", "deleted",
    // WooCommerce's own names, as some of its exports write them
    "wccancelled", "wcfailed", "wcrefunded",
    // French
    "annule", "annulee", "echoue", "echouee", "echec", "refuse", "refusee", "rembourse", "remboursee", "retourne",
    "retournee", "supprime", "supprimee", "expire", "expiree", "abandonne", "abandonnee",
    // Spanish, Italian, German
    "cancelado", "cancelada", "anulado", "anulada", "fallido", "rechazado", "reembolsado", "devuelto",
    "annullato", "annullata", "fallito", "rimborsato", "storniert", "abgebrochen", "fehlgeschlagen", "erstattet",
  ]

  /// `noSaleValues` by length, as bytes.
  private static let valuesByLength: [[[UInt8]]] = {
    var byLength = [[[UInt8]]](repeating: [], count: longest + 1)
    for value in noSaleValues { byLength[value.utf8.count].append(Array(value.utf8)) }
    return byLength
  }()

  private static let longest = noSaleValues.map(\.utf8.count).max() ?? 0

  /// Whether a status field says the order is no sale. The field's letters are compared,
  /// lower-cased and accents folded (`FoldedCharacter`); spaces, digits, punctuation and
  /// letters that fold to none are skipped.
  public static func isNoSale(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
    guard !field.isEmpty, field.count <= longest * 3 else { return false }
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: longest) { letters in
      var count = 0
      var i = 0
      while i < field.count {
        guard case .letter(let letter) = FoldedCharacter.next(field, at: &i) else { continue }
        guard count < longest else { return false }
        letters[count] = letter
        count += 1
      }
      guard count > 0 else { return false }
      return valuesByLength[count].contains { value in value.withUnsafeBufferPointer { $0.elementsEqual(UnsafeBufferPointer(rebasing: letters[0..<count])) } }
    }
  }

  /// `isNoSale` of a string's UTF-8 bytes.
  public static func isNoSale(_ value: String) -> Bool {
    var value = value
    return value.withUTF8 { isNoSale($0) }
  }
}
