import Analytics

/// Names of what a file held, shared by the analysis report and the dataset profile.
extension LanguagePack {
  func phrase(_ key: TextKey, _ arguments: Any...) -> String { text(key, arguments.map { "\($0)" }) }

  /// How the file's columns were read.
  public func layoutName(_ layout: DataLayout) -> String {
    switch layout {
    case .retailExport: phrase(.layoutRetailExport)
    case .shopifyOrders: phrase(.layoutShopifyOrders)
    case .orders: phrase(.layoutOrders)
    case .dailyPurchases: phrase(.layoutDailyPurchases)
    case .custom: phrase(.layoutCustom)
    }
  }

  /// A warning about how the file was read.
  public func warningText(_ warning: IngestWarning) -> String {
    switch warning {
    case .ambiguousDateOrder:
      phrase(.warningAmbiguousDateOrder)
    }
  }

  /// The orders counted as sales whose status says the payment is not settled
  /// (`DataQuality.salesNotSettled`), each status named with its count, in the order of
  /// `OrderStatus.notSettledNames`; nil when there is none.
  func salesNotSettledText(_ counts: [String: Int]?, count: (Int) -> String) -> String? {
    guard let counts, !counts.isEmpty else { return nil }
    let keys: [TextKey] = [
      .statusPending, .statusOnHold, .statusAuthorized, .statusPartiallyPaid, .statusPartiallyRefunded,
    ]
    var named = zip(OrderStatus.notSettledNames, keys).compactMap { name, key in counts[name].map { "\(phrase(key)) \(count($0))" } }
    // A name from a newer worker, shown as is.
    named += counts.keys.filter { !OrderStatus.notSettledNames.contains($0) }.sorted().map { "\(MarkdownText.literal($0)) \(count(counts[$0]!))" }
    return phrase(.warningSalesNotSettled, named.joined(separator: ", "))
  }

  /// A reject reason's text; a key that is not a reason (from a newer worker) is shown as is.
  public func rejectReason(_ key: String) -> String {
    guard let reason = RejectReason(rawValue: key) else { return MarkdownText.literal(key) }
    return switch reason {
    case .missingCustomer: phrase(.rejectMissingCustomer)
    case .anonymousCustomer: phrase(.rejectAnonymousCustomer)
    case .badDate: phrase(.rejectBadDate)
    case .badAmount: phrase(.rejectBadAmount)
    case .dateOutOfRange: phrase(.rejectDateOutOfRange)
    case .amountOutOfRange: phrase(.rejectAmountOutOfRange)
    case .zeroAmount: phrase(.rejectZeroAmount)
    case .returned: phrase(.rejectReturn)
    case .duplicateLine: phrase(.rejectDuplicateLine)
    case .orderOfAnotherCustomer: phrase(.rejectOrderOfAnotherCustomer)
    case .cancelledOrder: phrase(.rejectCancelledOrder)
    case .furtherLineItem: phrase(.rejectFurtherLineItem)
    case .otherCurrency: phrase(.rejectOtherCurrency)
    case .shortLine: phrase(.rejectMissingFields)
    case .repeatedHeader: phrase(.rejectRepeatedHeader)
    }
  }
}
