/// The names that leave Analytics in a result and that Reports turns into sentences. Each
/// is an enum whose raw value (or encoded string) is the name the JSON report documents
/// (docs/report-schema.md), so a report reads them with exhaustive switches.

/// A value that JSON holds as the text it prints as (`description`), read back with
/// `init?(_:)`: a name with parts, such as "dormant (2)" or "cluster:3".
public protocol TextCoded: Codable, CustomStringConvertible {
  /// The value `text` encodes; nil when it encodes none.
  init?(_ text: String)
}

extension TextCoded {
  /// Reads the value from the text it prints as.
  public init(from decoder: any Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    guard let value = Self(text) else {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a \(Self.self): \(text.prefix(60))"))
    }
    self = value
  }

  /// Writes the value as the text it prints as.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }
}

/// A recommended action (docs/metrics.md, "Actions").
public enum ActionID: String, CaseIterable, Sendable, Codable {
  case reactivation
  case vipCare = "vip_care"
  case crossSell = "cross_sell"
  case secondPurchase = "second_purchase"
  case serviceFollowUp = "service_follow_up"
  case churnSurvey = "churn_survey"
}

/// An automatic alert.
public enum AlertID: String, CaseIterable, Sendable, Codable {
  case inactiveCustomers = "inactive_customers"
  case orderValueDrop = "order_value_drop"
  case monthlyChurn = "monthly_churn"
  case lowSatisfaction = "low_satisfaction"
}

/// An indicator that a target or an action follows.
public enum KPIID: String, CaseIterable, Sendable, Codable {
  case engagedShare = "engaged_share"
  case averageOrderValue = "average_order_value"
  case ordersPerCustomerPerYear = "orders_per_customer_per_year"
  case repeatPurchaseRate = "repeat_purchase_rate"
  case monthlyChurn = "monthly_churn"
  case predictedCLVMean = "predicted_clv_mean"
  case satisfaction
  case reactivationRate = "reactivation_rate"
  case activeShare = "active_share"
  case repeatRateWithoutContact = "repeat_rate_without_contact"
  case surveyResponseRate = "survey_response_rate"
}

/// What a figure counts, which decides how it is printed.
public enum FigureUnit: String, CaseIterable, Sendable, Codable {
  /// A share, 0–1.
  case share
  case currency
  /// A plain number (orders per customer per year).
  case count
  /// A satisfaction score out of 5.
  case score
  /// A number of customers.
  case customers
}

/// The purchase models Fidelis fits (docs/metrics.md, "clv").
public enum PurchaseModel: String, CaseIterable, Sendable, Codable {
  /// BG/NBD (Fader, Hardie & Lee 2005): a customer may drop out after each repeat purchase.
  case bgnbd
  /// MBG/NBD (Batislam, Denizel & Filiztekin 2007): also right after the first purchase, so
  /// a one-time buyer silent for long is not certainly alive.
  case mbgnbd
  /// Pareto/NBD (Schmittlein, Morrison & Colombo 1987): a customer may drop out at any
  /// moment, not only at a purchase.
  case paretonbd
}

/// How the number of clusters was chosen.
public enum ClusterChoice: String, CaseIterable, Sendable, Codable {
  /// The best silhouette among the candidates 2…8.
  case silhouette
  /// Set by the job.
  case given
  /// Fewer than three customers: one cluster.
  case tooFewCustomers = "too few customers"
}

/// What a cluster's centre looks like (rules in `Clustering.clusterNames`).
public enum ClusterKind: String, CaseIterable, Sendable, Codable {
  case highValue = "high value"
  case dormantBigSpenders = "dormant big spenders"
  case dormant
  case loyalRegulars = "loyal regulars"
  case recentNewcomers = "recent newcomers"
  case occasional
}

/// A cluster's name: its kind, and its rank among the clusters of that kind by decreasing
/// spend. Encoded as the kind, followed by " (2)", " (3)"… from the second on.
public struct ClusterName: Hashable, Sendable, TextCoded {
  public var kind: ClusterKind
  /// 1 for the first cluster of its kind.
  public var rank: Int

  /// The `rank`-th cluster of `kind` by decreasing spend.
  public init(kind: ClusterKind, rank: Int = 1) {
    self.kind = kind
    self.rank = rank
  }

  /// The encoded name, e.g. "dormant (2)".
  public var description: String { rank <= 1 ? kind.rawValue : "\(kind.rawValue) (\(rank))" }

  /// The name `text` encodes; nil when it is not a cluster name.
  public init?(_ text: String) {
    if let kind = ClusterKind(rawValue: text) {
      self.init(kind: kind)
      return
    }
    guard text.hasSuffix(")"), let open = text.lastIndex(of: "("), open > text.startIndex,
      let kind = ClusterKind(rawValue: String(text[..<text.index(before: open)])),
      let rank = Int(text[text.index(after: open)..<text.index(before: text.endIndex)]), rank >= 2
    else { return nil }
    self.init(kind: kind, rank: rank)
  }
}

/// The customers an action targets. Encoded as the lifecycle group's name,
/// "one_time_buyers", "one_time_buyers_not_lost" or "cluster:N".
public enum CustomerGroup: Hashable, Sendable, TextCoded {
  case lifecycle(LifecycleGroup)
  /// Customers with exactly one order.
  case oneTimeBuyers
  /// Customers with one order who are not lost yet.
  case oneTimeBuyersNotLost
  /// The members of cluster N.
  case cluster(Int)

  /// The encoded name.
  public var description: String {
    switch self {
    case .lifecycle(let group): group.rawValue
    case .oneTimeBuyers: "one_time_buyers"
    case .oneTimeBuyersNotLost: "one_time_buyers_not_lost"
    case .cluster(let id): "cluster:\(id)"
    }
  }

  /// The group `text` encodes; nil for any other text.
  public init?(_ text: String) {
    if let group = LifecycleGroup(rawValue: text) {
      self = .lifecycle(group)
    } else if text == "one_time_buyers" {
      self = .oneTimeBuyers
    } else if text == "one_time_buyers_not_lost" {
      self = .oneTimeBuyersNotLost
    } else if text.hasPrefix("cluster:"), let id = Int(text.dropFirst(8)), id >= 0 {
      self = .cluster(id)
    } else {
      return nil
    }
  }
}

/// Which of the three key points a point is.
public enum KeyPointKind: String, CaseIterable, Sendable, Codable {
  /// The lapsed lifecycle group with the most past revenue.
  case revenueAtRisk = "revenue_at_risk"
  /// The highest-spending cluster.
  case highValueCluster = "high_value_cluster"
  /// The raised alert furthest past its threshold.
  case alert
}

/// The column layout a transactions file was read with.
public enum DataLayout: String, CaseIterable, Sendable, Codable {
  case retailExport = "retail export (InvoiceNo, StockCode, …, CustomerID, Country)"
  case orders = "orders (customer, order, date, amount)"
  case dailyPurchases = "daily purchases (customer, date, amount; one order per customer and day)"
  /// Shopify's orders export: a line per line item, the order's total and status on its
  /// first line alone (`ColumnRole.isShopifyOrders`).
  case shopifyOrders = "Shopify orders export (Name, Email, Financial Status, Total, Created at; an order's total on its first line)"
  case custom
}

/// Something the reader of a report should know about how the file was read.
public enum IngestWarning: String, CaseIterable, Sendable, Codable {
  /// No date had a day above 12: the order was a guess.
  case ambiguousDateOrder = "every date could be day/month or month/day: read as day/month; pass --date-order mdy if wrong"
}
