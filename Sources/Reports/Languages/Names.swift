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
    }
  }
}
