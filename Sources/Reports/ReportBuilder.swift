import Analytics
import Foundation

/// Writes the executive report from an analysis result, in English or French. Every
/// figure comes from the result; sentences are chosen by rules from the figures.
public struct ReportBuilder {
  let r: AnalysisResult
  let lang: ReportLanguage
  let f: NumberStyle
  var tenantName: String

  /// A builder for `result` in `language`; `tenantName` appears in the title.
  public init(result: AnalysisResult, language: ReportLanguage, tenantName: String = "") {
    self.r = result
    self.lang = language
    self.f = NumberStyle(language: language, currency: result.currency)
    self.tenantName = tenantName
  }

  /// The text of `key` in the report's language, `{n}` replaced by the n-th argument.
  func phrase(_ key: TextKey, _ arguments: Any...) -> String { lang.pack.text(key, arguments.map { "\($0)" }) }

  /// The name of a lifecycle group as readers know it.
  func groupName(_ group: LifecycleGroup) -> String {
    switch group {
    case .loyal: phrase(.groupLoyalCustomers)
    case .potential: phrase(.groupPotentialCustomers)
    case .new: phrase(.groupNewCustomers)
    case .atRisk: phrase(.groupAtRiskCustomers)
    case .lost: phrase(.groupLostCustomers)
    }
  }

  /// The name of the customers an action targets.
  func groupName(_ group: CustomerGroup) -> String {
    switch group {
    case .lifecycle(let group): groupName(group)
    case .oneTimeBuyers: phrase(.groupOneTimeBuyers)
    case .oneTimeBuyersNotLost: phrase(.groupOneTimeBuyersNotLost)
    case .cluster(let id): r.clusters.profiles.first { $0.id == id }.map { "\(phrase(.labelCluster)) \(id) – \(clusterName($0.name))" } ?? "\(phrase(.labelCluster)) \(id)"
    }
  }

  func segmentName(_ segment: RFMSegment) -> String {
    switch segment {
    case .champions: phrase(.segmentChampions)
    case .loyal: phrase(.segmentLoyalCustomers)
    case .potentialLoyalist: phrase(.segmentPotentialLoyalist)
    case .newCustomers: phrase(.segmentNewCustomers)
    case .promising: phrase(.segmentPromising)
    case .needAttention: phrase(.segmentNeedAttention)
    case .aboutToSleep: phrase(.segmentAboutToSleep)
    case .atRisk: phrase(.segmentAtRisk)
    case .cantLose: phrase(.segmentCantLoseThem)
    case .hibernating: phrase(.segmentHibernating)
    case .lost: phrase(.segmentLost)
    }
  }

  func clusterName(_ name: ClusterName) -> String {
    let kind =
      switch name.kind {
      case .highValue: phrase(.clusterHighValue)
      case .dormantBigSpenders: phrase(.clusterDormantBigSpenders)
      case .dormant: phrase(.clusterDormant)
      case .loyalRegulars: phrase(.clusterLoyalRegulars)
      case .recentNewcomers: phrase(.clusterRecentNewcomers)
      case .occasional: phrase(.clusterOccasional)
      }
    return name.rank <= 1 ? kind : "\(kind) (\(name.rank))"
  }

  func kpiName(_ id: KPIID) -> String {
    switch id {
    case .engagedShare: phrase(.kpiEngagedCustomersOrdered, r.lifecycle.atRiskDays)
    case .averageOrderValue: phrase(.kpiAverageOrderValue)
    case .ordersPerCustomerPerYear: phrase(.kpiOrdersPerCustomer)
    case .repeatPurchaseRate: phrase(.kpiRepeatPurchaseRate)
    case .monthlyChurn: phrase(.kpiMonthlyChurnOf)
    case .predictedCLVMean: phrase(.kpiPredictedCustomerLifetime, r.clv.horizonMonths)
    case .satisfaction: phrase(.kpiAverageSatisfactionOut)
    case .reactivationRate: phrase(.kpiReactivationRate)
    case .activeShare: phrase(.kpiShareStillActive)
    case .repeatRateWithoutContact: phrase(.kpiRepeatRateOf)
    case .surveyResponseRate: phrase(.kpiSurveyResponseRate)
    }
  }

  func format(_ value: Double, unit: FigureUnit) -> String {
    switch unit {
    case .share: f.percent(value)
    case .currency: f.money(value)
    case .score: f.number(value, digits: 2)
    case .customers: f.count(Int(value))
    case .count: f.number(value, digits: 2)
    }
  }

  func alertName(_ id: AlertID) -> String {
    switch id {
    case .inactiveCustomers: phrase(.alertCustomersInactiveFor, r.lifecycle.atRiskDays)
    case .orderValueDrop: phrase(.alertAverageOrderValue)
    case .monthlyChurn: phrase(.kpiMonthlyChurnOf)
    case .lowSatisfaction: phrase(.alertAverageSatisfaction)
    }
  }

  func alertThreshold(_ a: AnalysisResult.Alert) -> String {
    switch a.id {
    case .inactiveCustomers: phrase(.thresholdDays, f.count(Int(a.threshold)))
    case .lowSatisfaction: "< " + f.number(a.threshold, digits: 2) + " / 5"
    case .orderValueDrop, .monthlyChurn: "> " + f.percent(a.threshold)
    }
  }

  func alertFigure(_ a: AnalysisResult.Alert) -> String {
    switch a.unit {
    case .customers: phrase(.alertFigureCustomers, f.count(Int(a.figure)))
    case .score: f.number(a.figure, digits: 2) + " / 5"
    case .share, .currency, .count: f.percent(a.figure)
    }
  }

  /// The whole report.
  public func document() -> ReportDocument {
    var blocks: [ReportDocument.Block] = []
    blocks += executiveSummary()
    blocks += sinceLastReport()
    blocks += opportunitiesAndRisks()
    blocks += recommendations()
    blocks += kpisAndAlerts()
    blocks += retention()
    blocks += predictedValue()
    blocks += nextSteps()
    blocks += methodology()
    let title = phrase(.labelCustomerRetentionReport) + (tenantName.isEmpty ? "" : " – " + MarkdownText.literal(tenantName))
    let subtitle = phrase(.titleCustomersOrdersFrom, f.count(r.customers), f.date(r.period.first), f.date(r.period.last), f.date(r.asOf))
    return ReportDocument(title: title, subtitle: subtitle, language: lang, blocks: blocks)
  }

  // MARK: 1. Executive summary

  func executiveSummary() -> [ReportDocument.Block] {
    let k = r.kpis
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: phrase(.labelExecutiveSummary)),
      .heading(level: 2, text: phrase(.labelIntroduction)),
      .paragraph(
        amounts
          ? phrase(.summaryThisReportAnalyses, f.count(r.customers), r.period.months, f.date(r.period.first), f.date(r.period.last), f.count(r.orders), f.money(r.revenue))
          : phrase(.summaryIntroNoAmounts, f.count(r.customers), r.period.months, f.date(r.period.first), f.date(r.period.last), f.count(r.orders))),
      .heading(level: 2, text: phrase(.labelOverallPerformance)),
      .bullets([
        amounts ? phrase(.summaryCustomers, f.count(r.customers), f.count(r.orders), f.money(r.revenue)) : phrase(.summaryCustomersNoAmounts, f.count(r.customers), f.count(r.orders)),
        amounts
          ? phrase(.summaryEngagementAverageOrder, f.money(k.averageOrderValue), f.number(k.ordersPerCustomer, digits: 2), f.money(k.revenuePerCustomer))
          : phrase(.summaryEngagementNoAmounts, f.number(k.ordersPerCustomer, digits: 2), f.number(k.ordersPerCustomerPerYear, digits: 2)),
        phrase(.summaryRetentionOfCustomers, f.percent(k.engagedShare), r.lifecycle.atRiskDays, f.percent(k.repeatPurchaseRate)),
      ]),
      .heading(level: 2, text: phrase(.labelKeyPoints)),
    ]
    var points: [String] = []
    for p in r.keyPoints {
      switch p.id {
      case .revenueAtRisk:
        points.append(
          amounts
            ? phrase(.summaryRetentionAlertOf, f.count(p.customers ?? 0), subjectName(p.subject).lowercased(), f.percent(p.share ?? 0), f.money(p.value ?? 0), f.percent(p.ratio ?? 0))
            : phrase(.summaryRetentionAlertNoAmounts, f.count(p.customers ?? 0), subjectName(p.subject).lowercased(), f.percent(p.share ?? 0)))
      case .highValueCluster:
        points.append(phrase(.summaryHighestValueCluster, f.count(p.customers ?? 0), subjectName(p.subject), f.money(p.value ?? 0), f.times(p.ratio ?? 0)))
      case .alert:
        if case .alert(let id) = p.subject, let a = r.alerts.first(where: { $0.id == id }) {
          points.append(phrase(.summaryBiggestAlertAt, alertName(a.id).lowercased(), alertFigure(a), alertThreshold(a)))
        }
      }
    }
    blocks.append(.steps(points))
    return blocks
  }

  // MARK: 2. Opportunities and risks

  func groupMeaning(_ group: LifecycleGroup) -> String {
    switch group {
    case .loyal: phrase(.meaningRecentFrequentAnd)
    case .potential: phrase(.meaningActiveButWith)
    case .new: phrase(.meaningFirstOrderedRecently)
    case .atRisk: phrase(.meaningAtRisk, r.lifecycle.atRiskDays)
    case .lost: phrase(.meaningLost, r.lifecycle.lostDays)
    }
  }

  func opportunitiesAndRisks() -> [ReportDocument.Block] {
    let header = [
      phrase(.labelGroup), phrase(.labelCustomers), phrase(.labelShare), phrase(.labelRevenue), phrase(.labelRevenueShare),
      phrase(.labelMeanRecencyDays), phrase(.labelOrdersPerCustomer), phrase(.kpiAverageOrderValue),
    ]
    func row<Name>(_ name: String, _ g: GroupProfile<Name>) -> [String] {
      [name, f.count(g.customers), f.percent(g.share), f.money(g.revenue), f.percent(g.revenueShare), f.number(g.meanRecency, digits: 1), f.number(g.meanFrequency, digits: 2), f.money(g.averageOrderValue)]
    }
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: phrase(.insightsStrategicInsightsOpportunities)),
      .heading(level: 2, text: phrase(.labelStoryAndKey)),
      .bullets(keyFindings()),
      .heading(level: 2, text: phrase(.labelLifecycleGroups)),
      .chart(Chart(
        title: phrase(.labelCustomersPerLifecycle),
        kind: .bar(labels: r.lifecycle.groups.map { groupName($0.name) }, values: r.lifecycle.groups.map { Double($0.customers) }, valueLabels: r.lifecycle.groups.map { f.count($0.customers) }),
        xLabel: phrase(.labelGroup), yLabel: phrase(.labelCustomers))),
      .table(groupTable(.init(header: header, rows: r.lifecycle.groups.map { row(groupName($0.name), $0) }, numeric: Set(1...7)))),
      .heading(level: 2, text: phrase(.labelGrowthOpportunities)),
    ]
    for g in r.lifecycle.groups where [.loyal, .potential, .new].contains(g.name) && g.customers > 0 {
      blocks.append(.heading(level: 3, text: "\(groupName(g.name)) (\(f.count(g.customers)) \(phrase(.wordCustomers)))"))
      blocks.append(.bullets([
        amounts
          ? phrase(.insightsProfileOfCustomers, f.percent(g.share), f.percent(g.revenueShare), f.money(g.averageOrderValue))
          : phrase(.insightsProfileNoAmounts, f.percent(g.share), f.number(g.meanFrequency, digits: 2)),
        phrase(.labelWhatItMeans) + groupMeaning(g.name),
      ]))
    }
    // The cluster the VIP action targets: the top spenders.
    for case .cluster(let id) in r.actions.first(where: { $0.id == .vipCare })?.segments ?? [] {
      guard let c = r.clusters.profiles.first(where: { $0.id == id }) else { continue }
      blocks.append(.heading(level: 3, text: "\(phrase(.labelCluster)) \(c.id) – \"\(clusterName(c.name))\" (\(f.count(c.profile.customers)) \(phrase(.wordCustomers)))"))
      blocks.append(.bullets([
        phrase(.insightsProfileAverageOrder, f.money(c.profile.averageOrderValue), f.times(c.orderValueIndex), f.number(c.profile.meanFrequency, digits: 2), f.percent(c.profile.revenueShare)),
        phrase(.insightsOpportunityVipProgramme),
      ]))
    }
    blocks.append(.heading(level: 2, text: phrase(.labelThreatsAndRisks)))
    for g in r.lifecycle.groups where [.atRisk, .lost].contains(g.name) && g.customers > 0 {
      blocks.append(.heading(level: 3, text: "\(groupName(g.name)) (\(f.count(g.customers)) \(phrase(.wordCustomers)) – \(f.percent(g.share)))"))
      blocks.append(.bullets([
        amounts
          ? phrase(.insightsProfileMeanRecency, f.number(g.meanRecency, digits: 1), f.percent(g.revenueShare), f.money(g.revenue))
          : phrase(.insightsProfileRecencyNoAmounts, f.number(g.meanRecency, digits: 1), f.number(g.meanFrequency, digits: 2)),
        phrase(.labelWhatItMeans) + groupMeaning(g.name),
      ]))
    }
    blocks.append(.heading(level: 2, text: phrase(.labelRfmSegments)))
    blocks.append(.table(groupTable(.init(header: [phrase(.labelSegment)] + header.dropFirst(), rows: r.rfm.segments.filter { $0.customers > 0 }.map { row(segmentName($0.name), $0) }, numeric: Set(1...7)))))
    blocks.append(.heading(level: 2, text: phrase(.labelClustersKMeans)))
    blocks.append(.table(groupTable(.init(
      header: [phrase(.labelCluster)] + header.dropFirst(), rows: r.clusters.profiles.map { row("\($0.id) – \(clusterName($0.name))", $0.profile) }, numeric: Set(1...7)))))
    if r.clusters.profiles.count > 1 && amounts {
      blocks.append(.chart(Chart(
        title: phrase(.insightsClustersOrdersPer),
        kind: .scatter(
          points: r.clusters.profiles.map { (x: $0.profile.meanFrequency, y: $0.profile.averageOrderValue, size: $0.profile.share, label: "\($0.id) – \(clusterName($0.name))") },
          xTicks: [], yTicks: []),
        xLabel: phrase(.labelOrdersPerCustomer), yLabel: phrase(.kpiAverageOrderValue) + " (\(f.currencySymbol))")))
    }
    return blocks
  }

  /// What the data says, one finding per line, each with its figures.
  func keyFindings() -> [String] {
    var findings: [String] = []
    if let loyal = r.lifecycle.groups.first(where: { $0.name == .loyal }), loyal.customers > 0 {
      findings.append(
        amounts
          ? phrase(.findingLoyalCustomersOf, f.percent(loyal.share), f.percent(loyal.revenueShare), f.number(loyal.meanFrequency, digits: 2))
          : phrase(.findingLoyalNoAmounts, f.percent(loyal.share), f.number(loyal.meanFrequency, digits: 2)))
    }
    findings.append(phrase(.findingOneTimeBuyers, f.percent(r.kpis.oneTimeBuyerRate)))
    if let s = r.insights.serviceContact {
      findings.append(phrase(.findingServiceContactCustomers, f.percent(s.withContact.repeatRate), f.percent(s.withoutContact.repeatRate)))
    }
    if let s = r.insights.satisfaction, let correlation = s.correlation {
      findings.append(phrase(.findingSatisfactionAverageOut, f.number(s.average, digits: 2), f.number(correlation, digits: 2)))
    }
    if let p = r.insights.promotion {
      findings.append(phrase(.findingPromotionsOfOrders, f.percent(p.promo.orderShare), f.money(p.promo.averageOrderValue), f.money(p.normal.averageOrderValue)))
    }
    return findings
  }

  // MARK: 3. Recommended actions

  func actionSteps(_ id: ActionID) -> [String] {
    switch id {
    case .reactivation:
      [phrase(.stepWelcomeBackOffer), phrase(.stepThreeMonthReactivation)]
    case .vipCare:
      [phrase(.stepDedicatedCustomerService), phrase(.stepEarlyAccessTo), phrase(.stepFreeDeliveryAnd)]
    case .crossSell:
      [phrase(.stepProductRecommendationsAnd), phrase(.stepSegmentedEMail)]
    case .secondPurchase:
      [phrase(.stepPersonalisedCampaignFor), phrase(.stepFollowUpAfter)]
    case .serviceFollowUp:
      [phrase(.stepProactiveServiceContact), phrase(.stepImproveDeliveryLogistics)]
    case .churnSurvey:
      [phrase(.stepExitSatisfactionSurvey), phrase(.stepAnalysisOfReasons)]
    }
  }

  func actionTitle(_ id: ActionID) -> String {
    switch id {
    case .reactivation: phrase(.actionPriorityReactivationCampaign)
    case .vipCare: phrase(.actionVipProgrammeFor)
    case .crossSell: phrase(.actionCrossSellingTo)
    case .secondPurchase: phrase(.actionSecondPurchaseCampaign)
    case .serviceFollowUp: phrase(.actionServiceFollowUp)
    case .churnSurvey: phrase(.actionChurnCauseAnalysis)
    }
  }

  func estimateSentence(_ a: AnalysisResult.Action) -> String? {
    guard let e = a.estimate else { return nil }
    switch a.id {
    case .reactivation, .secondPurchase:
      return phrase(.estimateOneMoreOrder, f.percent(e.rate), f.count(e.customers), f.money(e.base), f.money(e.value))
    case .serviceFollowUp:
      return phrase(.estimateOneTimeBuyersReturn, f.count(e.customers), f.percent(e.rate), f.money(e.base), f.money(e.value))
    case .vipCare, .crossSell, .churnSurvey:
      return phrase(.estimateValueGrowth, r.clv.horizonMonths, f.count(e.customers), f.money(e.base), f.percent(e.rate), f.money(e.value))
    }
  }

  func recommendations() -> [ReportDocument.Block] {
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: phrase(.labelRecommendedActions)),
      .heading(level: 2, text: phrase(.labelProposedActionsAnd)),
      .table(.init(
        header: [phrase(.labelAction), phrase(.labelCustomersTargeted), phrase(.labelKpiToFollow), phrase(.labelEstimatedGain)],
        rows: r.actions.enumerated().map { i, a in
          ["\(i + 1). \(actionTitle(a.id))", f.count(a.targetCustomers), kpiName(a.kpi), a.estimate.map { "+" + f.money($0.value) } ?? "–"]
        }, numeric: [1, 3])),
    ]
    for (i, a) in r.actions.enumerated() {
      blocks.append(.heading(level: 2, text: "\(i + 1). \(actionTitle(a.id))"))
      var items = [
        phrase(.actionsTargetCustomers, f.count(a.targetCustomers), a.segments.map(groupName).joined(separator: " + ")),
        phrase(.labelActions) + actionSteps(a.id).joined(separator: phrase(.listSeparator)),
      ]
      let unit: FigureUnit = a.kpi == .averageOrderValue ? .currency : .share
      let current = a.kpiCurrent.map { phrase(.actionsKpiNow, format($0, unit: unit)) } ?? ""
      items.append(phrase(.actionsKpi, kpiName(a.kpi).lowercased(), format(a.kpiTarget, unit: unit), current))
      if let estimate = estimateSentence(a) { items.append(phrase(.labelEstimate) + estimate) }
      blocks.append(.bullets(items))
    }
    return blocks
  }

  // MARK: Since the last report

  /// The comparison with the previous report of the series, when there is one.
  func sinceLastReport() -> [ReportDocument.Block] {
    guard let c = r.comparison else { return [] }
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: phrase(.labelSinceTheLastReport)),
      .paragraph(phrase(.sinceComparedWith, f.date(c.previousAsOf), MarkdownText.literal(c.previousJob), f.count(c.days))),
      .heading(level: 2, text: phrase(.labelKeyFigures)),
    ]
    let shown = c.kpiChanges.filter { amounts || $0.unit != .currency }
    blocks.append(.table(.init(
      header: [phrase(.labelKpi), phrase(.labelBefore), phrase(.labelNow), phrase(.labelChange)],
      rows: shown.map { k in
        [seriesFigureName(k.id), k.before.map { seriesValue($0, k.id) } ?? "–", k.after.map { seriesValue($0, k.id) } ?? "–", k.change.map { signedChange($0, k.id) } ?? "–"]
      }, numeric: [1, 2, 3])))
    let explained = phrase(.sinceMigrationExplained, phrase(.labelNotInPrevious), phrase(.labelNoLongerInData))
    let migrations: [(Comparison.Migration, Bool, TextKey, TextKey)] = [
      (c.segmentMigration.lifecycle, true, .labelWhereCustomersWentGroups, .sinceMigrationChartGroups),
      (c.segmentMigration.rfm, false, .labelWhereCustomersWentSegments, .sinceMigrationChartSegments),
    ]
    for (migration, isGroups, heading, chartTitle) in migrations {
      let name: (String) -> String = { raw in
        if raw == Comparison.notInPrevious { return self.phrase(.labelNotInPrevious) }
        if isGroups { return LifecycleGroup(rawValue: raw).map(self.groupName) ?? raw }
        return RFMSegment(rawValue: raw).map(self.segmentName) ?? raw
      }
      // Rows and columns nobody is in are left out: eleven segments make a large table.
      let rows = migration.rows.indices.filter { migration.counts[$0].reduce(0, +) + migration.absent[$0] > 0 }
      let columns = migration.columns.indices.filter { j in migration.counts.contains { $0[j] > 0 } }
      guard !rows.isEmpty else { continue }
      blocks.append(.heading(level: 2, text: phrase(heading)))
      if isGroups { blocks.append(.paragraph(explained)) }
      blocks.append(.chart(Chart(
        title: phrase(chartTitle),
        kind: .heatmap(
          rows: rows.map { name(migration.rows[$0]) }, columns: columns.map { name(migration.columns[$0]) },
          values: rows.map { i in
            let total = Double(max(1, migration.counts[i].reduce(0, +)))
            return columns.map { Double(migration.counts[i][$0]) / total }
          },
          cellLabels: rows.map { i in columns.map { f.count(migration.counts[i][$0]) } }),
        xLabel: phrase(.labelNow), yLabel: phrase(.labelBefore))))
      blocks.append(.table(.init(
        header: [phrase(.labelBefore) + " \\ " + phrase(.labelNow)] + columns.map { name(migration.columns[$0]) } + [phrase(.labelNoLongerInData)],
        rows: rows.map { i in [name(migration.rows[i])] + columns.map { f.count(migration.counts[i][$0]) } + [f.count(migration.absent[i])] },
        numeric: Set(1...(columns.count + 1)))))
    }
    if !c.actionFollowUp.isEmpty {
      blocks.append(.heading(level: 2, text: phrase(.labelPreviousActions)))
      blocks.append(.paragraph(phrase(.sinceActionsExplained, f.date(c.previousAsOf))))
      blocks.append(.table(.init(
        header: [phrase(.labelAction), phrase(.labelTargeted), phrase(.labelOrderedAgain), phrase(.labelRate), phrase(.labelKpi), phrase(.labelTarget), phrase(.labelNow), phrase(.labelTargetMet)],
        rows: c.actionFollowUp.map { a in
          let kpi = KPIID(rawValue: a.kpi)
          let unit = kpi.map(kpiUnit) ?? .share
          return [
            ActionID(rawValue: a.action).map(actionTitle) ?? a.action, f.count(a.targeted), f.count(a.orderedAgain), a.rate.map { f.percent($0) } ?? "–",
            kpi.map(kpiName) ?? a.kpi, format(a.kpiTarget, unit: unit), a.kpiAfter.map { format($0, unit: unit) } ?? phrase(.labelNotMeasurable),
            a.met.map { $0 ? phrase(.wordYes) : phrase(.wordNo) } ?? "–",
          ]
        }, numeric: [1, 2, 3, 5, 6])))
    }
    if c.trend.count >= 2 {
      blocks.append(.heading(level: 2, text: phrase(.labelOverTheSeries)))
      let dates = c.trend.map { f.date($0.asOf) }
      let rates: [SeriesFigure] = [.engagedShare, .repeatPurchaseRate, .oneTimeBuyerRate, .lastMonthChurn]
      let money: [SeriesFigure] = amounts ? [.averageOrderValue, .revenuePerCustomer, .predictedCLVMean] : []
      for (figures, percent, title) in [(rates, true, TextKey.sinceTrendShares), (money, false, TextKey.sinceTrendAmounts)] where !figures.isEmpty {
        blocks.append(.chart(Chart(
          title: phrase(title), kind: .lines(points: dates, series: figures.map { g in (seriesFigureName(g), c.trend.map { $0.values[g] }) }, percent: percent),
          xLabel: phrase(.labelReportAsOf), yLabel: "")))
      }
      let figures = rates + money
      blocks.append(.table(.init(
        header: [phrase(.labelReportAsOf)] + figures.map(seriesFigureName),
        rows: c.trend.map { p in [f.date(p.asOf)] + figures.map { g in p.values[g].map { seriesValue($0, g) } ?? "–" } },
        numeric: Set(1...figures.count))))
    }
    return blocks
  }

  func seriesFigureName(_ figure: SeriesFigure) -> String {
    switch figure {
    case .customers: phrase(.figureCustomers)
    case .orders: phrase(.figureOrders)
    case .revenue: phrase(.figureRevenue)
    case .averageOrderValue: phrase(.kpiAverageOrderValue)
    case .revenuePerCustomer: phrase(.figureRevenuePerCustomer)
    case .ordersPerCustomerPerYear: phrase(.kpiOrdersPerCustomer)
    case .repeatPurchaseRate: phrase(.kpiRepeatPurchaseRate)
    case .oneTimeBuyerRate: phrase(.figureOneTimeBuyerRate)
    case .engagedShare: phrase(.kpiEngagedCustomersOrdered, r.lifecycle.atRiskDays)
    case .inactiveCustomers: phrase(.figureInactiveCustomers, r.lifecycle.atRiskDays)
    case .lastMonthChurn: phrase(.figureLastMonthChurn)
    case .predictedCLVMean: phrase(.kpiPredictedCustomerLifetime, r.clv.horizonMonths)
    }
  }

  func seriesValue(_ value: Double, _ figure: SeriesFigure) -> String {
    switch figure {
    case .customers, .orders, .inactiveCustomers: f.count(Int(value.rounded()))
    case .ordersPerCustomerPerYear: f.number(value, digits: 2)
    default: format(value, unit: figure.unit)
    }
  }

  /// A change with its sign: percentage points for rates.
  func signedChange(_ change: Double, _ figure: SeriesFigure) -> String {
    let sign = change > 0 ? "+" : ""
    switch figure.unit {
    case .share: return sign + f.number(change * 100, digits: 1) + " pts"
    default: return sign + seriesValue(change, figure)
    }
  }

  /// How an action's indicator is printed.
  func kpiUnit(_ id: KPIID) -> FigureUnit {
    switch id {
    case .averageOrderValue, .predictedCLVMean: .currency
    case .ordersPerCustomerPerYear: .count
    case .satisfaction: .score
    default: .share
    }
  }

  // MARK: 4. KPIs and alerts

  func kpisAndAlerts() -> [ReportDocument.Block] {
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: phrase(.labelKpisToMonitor)),
      .heading(level: 2, text: phrase(.labelCriticalIndicators)),
      .table(.init(
        header: [phrase(.labelKpi), phrase(.labelCurrent), phrase(.labelTarget), phrase(.labelGap)],
        rows: r.targets.map { [kpiName($0.id), format($0.current, unit: $0.unit), format($0.target, unit: $0.unit), format($0.gap, unit: $0.unit)] }, numeric: [1, 2, 3])),
      .heading(level: 2, text: phrase(.labelAutomaticAlerts)),
    ]
    blocks.append(.table(.init(
      header: [phrase(.labelAlert), phrase(.labelFigure), phrase(.labelThreshold), phrase(.labelStatus)],
      rows: r.alerts.map { [alertName($0.id), alertFigure($0), alertThreshold($0), $0.raised ? phrase(.labelRaised) : phrase(.labelOk)] }, numeric: [1])))
    return blocks
  }

  // MARK: 5. Retention

  func retention() -> [ReportDocument.Block] {
    var blocks: [ReportDocument.Block] = [.heading(level: 1, text: phrase(.labelRetention))]
    let recent = Array(r.kpis.cohorts.suffix(12))
    let width = min(12, recent.map(\.retention.count).max() ?? 0)
    var charts: [String] = []
    if !recent.isEmpty && width > 0 {
      charts.append(phrase(.retentionHeatMapMonthly))
    }
    if let s = r.insights.serviceContact {
      charts.append(phrase(.retentionBarChartRepeat, f.percent(s.withContact.repeatRate), f.percent(s.withoutContact.repeatRate)))
    }
    if r.insights.satisfaction != nil {
      charts.append(phrase(.retentionScatterPlotSatisfaction))
    }
    if r.insights.promotion != nil {
      charts.append(phrase(.retentionHistogramOrderValues))
    }
    if r.insights.categories != nil {
      charts.append(phrase(.retentionDonutChartsCategory))
    }
    if !charts.isEmpty {
      blocks.append(.heading(level: 2, text: phrase(.labelCharts)))
      blocks.append(.bullets(charts))
    }
    if !recent.isEmpty && width > 0 {
      blocks.append(.heading(level: 2, text: phrase(.labelMonthlyCohorts)))
      blocks.append(.chart(Chart(
        title: phrase(.retentionMonthlyCohortsShare),
        kind: .heatmap(
          rows: recent.map { "\($0.month) (\(f.count($0.customers)))" }, columns: (0..<width).map { "+\($0)" },
          values: recent.map { c in (0..<width).map { $0 < c.retention.count ? c.retention[$0] : nil } },
          cellLabels: recent.map { c in (0..<width).map { $0 < c.retention.count ? f.percent(c.retention[$0], digits: 0) : "" } }),
        xLabel: phrase(.retentionMonthsAfterThe), yLabel: phrase(.labelCohortCustomers))))
    }
    let months = r.kpis.monthly.suffix(12)
    blocks.append(.heading(level: 2, text: phrase(.labelMonthlyActivityAnd)))
    blocks.append(.table(.init(
      header: [phrase(.labelMonth), phrase(.labelActiveCustomers), phrase(.labelNewCustomers), phrase(.labelOrders), phrase(.labelRevenue),
               phrase(.kpiAverageOrderValue), phrase(.labelActiveBase), phrase(.labelChurn)],
      rows: months.map { [$0.partial ? phrase(.retentionPartialMonth, $0.month) : $0.month, f.count($0.activeCustomers), f.count($0.newCustomers), f.count($0.orders), f.money($0.revenue), f.money($0.averageOrderValue), f.count($0.activeBase), $0.churn.map { f.percent($0) } ?? "–"] },
      numeric: Set(1...7)).dropping(amounts ? [] : [4, 5])))
    if let partial = months.last(where: \.partial) {
      blocks.append(.paragraph(phrase(.retentionPartialMonthNote, partial.month, f.date(r.period.first), f.date(r.period.last))))
    }
    if let s = r.insights.serviceContact {
      blocks.append(.heading(level: 2, text: phrase(.retentionRetentionWithAnd)))
      blocks.append(.chart(Chart(
        title: phrase(.retentionRepeatPurchaseRate),
        kind: .bar(
          labels: [phrase(.labelWithContact), phrase(.labelWithoutContact)], values: [s.withContact.repeatRate, s.withoutContact.repeatRate],
          valueLabels: [f.percent(s.withContact.repeatRate), f.percent(s.withoutContact.repeatRate)]),
        xLabel: "", yLabel: phrase(.kpiRepeatPurchaseRate))))
      var text = phrase(.retentionCustomersWithA, f.count(s.withContact.customers), f.percent(s.withContact.repeatRate), f.percent(s.withoutContact.repeatRate), f.count(s.withoutContact.customers))
      if let lift = s.repeatLift { text += phrase(.retentionRelativeDifference, f.percent(lift)) } else { text += "." }
      blocks.append(.paragraph(text))
    }
    if let s = r.insights.satisfaction {
      blocks.append(.heading(level: 2, text: phrase(.labelSatisfactionAndRepurchase)))
      blocks.append(.chart(Chart(
        title: phrase(.retentionRepeatPurchaseRateBy),
        kind: .scatter(points: s.levels.map { (x: Double($0.score), y: $0.repeatRate, size: Double($0.customers) / Double(max(1, s.customers)), label: f.percent($0.repeatRate)) }, xTicks: [], yTicks: []),
        xLabel: phrase(.labelSatisfaction15), yLabel: phrase(.kpiRepeatPurchaseRate))))
      blocks.append(.table(.init(
        header: [phrase(.labelSatisfaction), phrase(.labelCustomers), phrase(.kpiRepeatPurchaseRate)],
        rows: s.levels.map { ["\($0.score)", f.count($0.customers), f.percent($0.repeatRate)] }, numeric: [1, 2])))
      let corr = s.correlation.map { f.number($0, digits: 2) } ?? "–"
      blocks.append(.paragraph(phrase(.retentionAverageSatisfactionOut, f.number(s.average, digits: 2), f.count(s.customers), corr)))
    }
    if let p = r.insights.promotion {
      blocks.append(.heading(level: 2, text: phrase(.labelPromotionAndNormal)))
      let bins = p.bins.enumerated().map { i, lower in i + 1 < p.bins.count ? "\(f.number(lower))–\(f.number(p.bins[i + 1]))" : "≥ \(f.number(lower))" }
      blocks.append(.chart(Chart(
        title: phrase(.retentionOrderValuesIn),
        kind: .histogram(bins: bins, series: [(phrase(.labelPromotion), p.promoHistogram.map(Double.init)), (phrase(.labelNormal), p.normalHistogram.map(Double.init))]),
        xLabel: phrase(.labelOrderValue) + " (\(f.currencySymbol))", yLabel: phrase(.labelOrders))))
      blocks.append(.table(.init(
        header: [phrase(.labelPeriod), phrase(.labelOrders), phrase(.labelShareOfOrders), phrase(.labelRevenue), phrase(.kpiAverageOrderValue)],
        rows: [
          [phrase(.labelPromotion), f.count(p.promo.orders), f.percent(p.promo.orderShare), f.money(p.promo.revenue), f.money(p.promo.averageOrderValue)],
          [phrase(.labelNormal), f.count(p.normal.orders), f.percent(p.normal.orderShare), f.money(p.normal.revenue), f.money(p.normal.averageOrderValue)],
        ], numeric: [1, 2, 3, 4])))
    }
    if let c = r.insights.categories {
      blocks.append(.heading(level: 2, text: phrase(.labelCategoryPreferencesPer)))
      blocks.append(.chart(Chart(
        title: phrase(.retentionRevenueShareOf),
        kind: .donuts(groups: c.byGroup.map { (groupName($0.group), $0.shares) }, sliceLabels: c.categories.map { $0 == "other" ? phrase(.labelOther) : MarkdownText.literal($0) }),
        xLabel: "", yLabel: "")))
      blocks.append(.table(.init(
        header: [phrase(.labelGroup)] + c.categories.map { $0 == "other" ? phrase(.labelOther) : MarkdownText.literal($0) },
        rows: c.byGroup.map { [groupName($0.group)] + $0.shares.map { f.percent($0) } }, numeric: Set(1...c.categories.count))))
    }
    return blocks
  }

  // MARK: 6. Predicted value

  /// False when the purchase model sees no dropout: its P(alive) cannot tell who left.
  var dropoutIdentified: Bool { !r.clv.diagnostics.contains { $0.id == .dropoutNotIdentified } }

  /// The check of the purchase model on held-back data, and what the models cannot tell.
  func modelCheck() -> [ReportDocument.Block] {
    var blocks: [ReportDocument.Block] = [.heading(level: 2, text: phrase(.valueModelCheckHeading))]
    if let v = r.clv.validation {
      blocks.append(.paragraph(phrase(
        .valueModelCheck, f.date(v.calibrationEnd), f.count(v.holdoutDays), f.count(v.customers), f.number(v.predictedPurchases), f.count(v.actualPurchases),
        f.number(v.maePerCustomer, digits: 3), f.number(v.baselineMae, digits: 3))))
      if amounts { blocks.append(.paragraph(phrase(.valueModelCheckRevenue, f.money(v.predictedRevenue), f.money(v.actualRevenue)))) }
      if v.candidates.count > 1 {
        let compared = v.candidates.map { "\(modelName($0.model)) \(f.number($0.maePerCustomer, digits: 3))" }.joined(separator: phrase(.listSeparator))
        blocks.append(.paragraph(phrase(.valueModelsCompared, compared, modelName(v.model))))
      }
      let labels = v.byFrequency.map { $0.frequency == 7 ? "7+" : "\($0.frequency)" }
      blocks.append(.chart(Chart(
        title: phrase(.valueModelCheckChart),
        kind: .histogram(bins: labels, series: [(phrase(.labelPredicted), v.byFrequency.map(\.meanPredicted)), (phrase(.labelActual), v.byFrequency.map(\.meanActual))]),
        xLabel: phrase(.valueCalibrationPurchases), yLabel: phrase(.valueHoldoutPurchases))))
      blocks.append(.table(.init(
        header: [phrase(.valueCalibrationPurchases), phrase(.labelCustomers), phrase(.labelPredicted), phrase(.labelActual)],
        rows: v.byFrequency.map { [$0.frequency == 7 ? "7+" : "\($0.frequency)", f.count($0.customers), f.number($0.meanPredicted, digits: 2), f.number($0.meanActual, digits: 2)] },
        numeric: [1, 2, 3])))
    } else {
      blocks.append(.paragraph(phrase(.valueModelCheckNone)))
    }
    for d in r.clv.diagnostics { blocks.append(.paragraph("⚠ " + diagnosticText(d))) }
    return blocks
  }

  func diagnosticText(_ d: ModelDiagnostic) -> String {
    switch d.id {
    case .dropoutNotIdentified: phrase(.diagnosticDropout, f.count(d.customers ?? 0), r.lifecycle.lostDays, f.percent(d.value))
    case .shortHistory: phrase(.diagnosticShortHistory, f.count(Int(d.value)))
    case .holdoutWorseThanBaseline: phrase(.diagnosticHoldoutWorse, f.number(d.value, digits: 3), f.number(r.clv.validation?.baselineMae ?? 0, digits: 3))
    case .fewRepeatBuyers: phrase(.diagnosticFewRepeatBuyers, f.count(d.customers ?? 0), f.percent(d.value))
    // The spread is at most 1 %: shown to a hundredth of a point, rounded up (a bound, never
    // "0.00%").
    case .predictionsUndifferentiated: phrase(.diagnosticUndifferentiated, f.percent(max((d.value * 10_000).rounded(.up), 1) / 10_000, digits: 2))
    }
  }

  /// False for a purchase log without amounts: nothing that needs money is shown.
  var amounts: Bool { r.dataQuality.amounts }

  /// A table of groups (lifecycle, RFM, clusters) without its money columns when the file
  /// has no amounts: revenue, revenue share, order value.
  func groupTable(_ table: ReportDocument.Table) -> ReportDocument.Table { table.dropping(amounts ? [] : [3, 4, 7]) }

  func predictedValue() -> [ReportDocument.Block] {
    let c = r.clv
    let bins = c.distribution.map { b in b.upper.map { "\(f.number(b.lower))–\(f.number($0))" } ?? "≥ \(f.number(b.lower))" }
    var blocks: [ReportDocument.Block] = [.heading(level: 1, text: phrase(.labelPredictedValue))]
    if amounts {
      blocks.append(.paragraph(phrase(.valueOverTheNext, c.horizonMonths, f.percent(c.monthlyDiscountRate), f.number(c.expectedPurchases), f.money(c.predictedTotal), f.money(c.predictedMean), f.money(c.predictedMedian), f.money(c.historicalMean), f.percent(c.meanProbabilityAlive))))
      blocks.append(.chart(Chart(
        title: phrase(.valueDistributionOfPredicted),
        kind: .histogram(bins: bins, series: [(phrase(.labelCustomers), c.distribution.map { Double($0.count) })]),
        xLabel: phrase(.labelPredictedValue) + " (\(f.currencySymbol))", yLabel: phrase(.labelCustomers))))
    } else {
      blocks.append(.paragraph(phrase(.valueOverTheNextNoAmounts, c.horizonMonths, f.number(c.expectedPurchases), f.percent(c.meanProbabilityAlive))))
    }
    blocks += modelCheck()
    blocks.append(.heading(level: 2, text: phrase(.valueValuableCustomersMost)))
    guard amounts else {
      blocks.append(.paragraph(phrase(.valueAtRiskNeedsAmounts)))
      return blocks
    }
    switch c.valuableAtRiskRule {
    case .probabilityAlive:
      let band = AnalysisResult.CLVSummary.reachableRisk
      blocks.append(.paragraph(phrase(.valueAmongThe20, f.percent(band.lowerBound, digits: 0), f.percent(band.upperBound, digits: 0))))
    case .recency:
      blocks.append(.paragraph(phrase(.valueAmongThe20Recency, r.lifecycle.atRiskDays, r.lifecycle.lostDays)))
    }
    if c.valuableAtRisk.isEmpty {
      blocks.append(.paragraph(phrase(.valueNoneInBand)))
    } else {
      blocks.append(.table(.init(
        header: [phrase(.labelCustomer), phrase(.labelRevenueSoFar), phrase(.labelRecencyDays), phrase(.labelProbabilityActive), phrase(.labelPredictedValue)],
        rows: c.valuableAtRisk.map { [MarkdownText.literal($0.customerId), f.money($0.revenue), f.count($0.recency), f.percent($0.probabilityAlive), f.money($0.predictedClv)] }, numeric: [1, 2, 3, 4])))
    }
    return blocks
  }

  // MARK: 7. Next steps

  func nextSteps() -> [ReportDocument.Block] {
    let first = r.actions.first.map { actionTitle($0.id) } ?? phrase(.labelReactivationCampaign)
    let second = r.actions.dropFirst().first.map { actionTitle($0.id) } ?? phrase(.nextFollowUpOf)
    var plan = [
      phrase(.nextWeeks12, first),
      phrase(.nextWeek3Roll, second),
      phrase(.nextWeek4Measure),
    ]
    if let remaining = r.actions.dropFirst(2).first { plan.insert(phrase(.nextWeek3Prepare, actionTitle(remaining.id)), at: 2) }
    return [
      .heading(level: 1, text: phrase(.labelNextSteps)),
      .heading(level: 2, text: phrase(.label30DayAction)),
      .bullets(plan),
      .heading(level: 2, text: phrase(.label90DayGoals)),
      .bullets(r.targets.map {
        phrase(.nextGoal, kpiName($0.id), format($0.current, unit: $0.unit), format($0.target, unit: $0.unit))
      }),
      .heading(level: 2, text: phrase(.label6MonthVision)),
      .bullets(vision()),
      .heading(level: 2, text: phrase(.labelConclusionAndFollow)),
      .paragraph(conclusion()),
    ]
  }

  func vision() -> [String] {
    var items: [String] = []
    if let o = r.clv.sixMonths {
      // The past months the outlook is set against are counted: a short export has fewer
      // than six complete months, or none.
      let (one, several, none): (TextKey, TextKey, TextKey) =
        dropoutIdentified
        ? (.visionAgainstOneMonth, .visionAgainstRecentMonths, .visionAgainstNoMonth) : (.visionBroughtOneMonth, .visionBroughtRecentMonths, .visionBroughtNoMonth)
      let past =
        switch (o.recentMonths, o.recentMonthlyRevenue.map { f.money($0) }) {
        case (1, let recent?): phrase(one, recent)
        case (_, let recent?): phrase(several, recent, o.recentMonths)
        case (_, nil): phrase(none)
        }
      if dropoutIdentified {
        items.append(phrase(.visionExpectedFromTodays, f.number(o.expectedPurchases), f.money(o.expectedRevenue), f.money(o.monthlyRevenue), past))
      } else {
        items.append(phrase(.visionNotProjected, past))
      }
    }
    items.append(phrase(.visionPredictiveChurnFollow))
    items.append(phrase(.visionPersonalisedMarketingOne))
    if r.insights.categories != nil {
      items.append(phrase(.visionProductRecommendationsBase))
    }
    return items
  }

  func conclusion() -> String {
    let nextReport = parseISODate(r.asOf).map { f.date(isoDate($0 + 30)) } ?? ""
    var text = ""
    if let best = r.actions.filter({ $0.estimate != nil }).max(by: { $0.estimate!.value < $1.estimate!.value }), let e = best.estimate {
      text = phrase(.conclusionTheLargestEstimated, actionTitle(best.id), f.money(e.value))
    }
    text += phrase(.conclusionFollowUpRun, nextReport)
    return text
  }

  // MARK: 8. Methodology

  func methodology() -> [ReportDocument.Block] {
    let q = r.dataQuality
    let m = r.clv.purchaseModel
    let modelChoice =
      if let v = r.clv.validation, v.candidates.count > 1 { phrase(.methodModelChosen) } else if r.clv.validation?.candidates.count == 1 { phrase(.methodModelGiven) } else { phrase(.methodModelDefault) }
    var items = [
      phrase(.methodReferenceDateRecency, f.date(r.asOf)),
      phrase(.methodDataRowsRead, f.count(q.rowsRead), f.count(q.rowsUsed), f.count(q.rowsRejected), lang.pack.layoutName(q.layout), q.encoding, q.separator, q.dateOrder),
    ]
    if let further = q.furtherLineItems, further > 0 { items.append(phrase(.methodFurtherLineItems, f.count(further))) }
    items += [
      phrase(.methodSegmentsRfmScores, r.lifecycle.atRiskDays, r.lifecycle.lostDays),
      phrase(.methodClustersKMeans, r.clusters.k, choiceText(r.clusters.chosenBy), f.number(r.clusters.silhouette, digits: 3), r.clusters.seed),
      phrase(
        .methodLifetimeValue, f.number(m.r, digits: 4), f.number(m.alpha, digits: 4), dropoutParameters(m.dropout), fitText(m.fit),
        f.number(r.clv.gammaGamma.p, digits: 4), f.number(r.clv.gammaGamma.q, digits: 4), f.number(r.clv.gammaGamma.v, digits: 4), fitText(r.clv.gammaGamma.fit),
        modelName(m.model), modelChoice),
    ]
    if !amounts { items.append(phrase(.methodNoAmounts)) }
    if q.returns.lines > 0 {
      items.append(phrase(.methodReturns, f.count(q.returns.lines), f.count(q.returns.matchedLines), f.count(q.returns.ordersCancelled), f.money(q.returns.value)))
    }
    if q.customerRowsRead > 0 {
      items.append(phrase(.methodCustomerFileRows, f.count(q.customerRowsRead), f.count(q.customerRowsMatched)))
    }
    var blocks: [ReportDocument.Block] = [.heading(level: 1, text: phrase(.labelMethodologyAndData)), .bullets(items)]
    if !q.rejected.isEmpty {
      blocks.append(.table(.init(
        header: [phrase(.labelRejectedRowsReason), phrase(.labelRows)], rows: q.rejected.sorted { $0.key < $1.key }.map { [lang.pack.rejectReason($0.key), f.count($0.value)] }, numeric: [1])))
    }
    for warning in q.warnings { blocks.append(.paragraph("⚠ " + lang.pack.warningText(warning))) }
    if let notSettled = lang.pack.salesNotSettledText(q.salesNotSettled, count: f.count) { blocks.append(.paragraph("⚠ " + notSettled)) }
    blocks.append(.paragraph(phrase(.methodDefinitionsOfEvery)))
    return blocks
  }

  func subjectName(_ subject: AnalysisResult.KeyPoint.Subject) -> String {
    switch subject {
    case .group(let group): groupName(group)
    case .cluster(let name): clusterName(name)
    case .alert(let id): alertName(id)
    }
  }

  func choiceText(_ choice: ClusterChoice) -> String {
    switch choice {
    case .silhouette: phrase(.choiceChosenBySilhouette)
    case .given: phrase(.choiceGivenByThe)
    case .tooFewCustomers: phrase(.choiceTooFewCustomers)
    }
  }

  /// A purchase model's usual name.
  func modelName(_ model: PurchaseModel) -> String {
    switch model {
    case .bgnbd: "BG/NBD"
    case .mbgnbd: "MBG/NBD"
    case .paretonbd: "Pareto/NBD"
    }
  }

  /// A purchase model's dropout parameters, as the methodology lists them.
  func dropoutParameters(_ dropout: PurchaseModelParameters.Dropout) -> String {
    switch dropout {
    case .bgnbd(let a, let b), .mbgnbd(let a, let b): "a = \(f.number(a, digits: 4)), b = \(f.number(b, digits: 4))"
    case .pareto(let s, let beta): "s = \(f.number(s, digits: 4)), β = \(f.number(beta, digits: 4))"
    }
  }

  /// Whether a model's fit converged; the optimiser's message says why not.
  func fitText(_ fit: ModelFit) -> String {
    fit.converged ? phrase(.fitConverged) : phrase(.fitNotConverged, MarkdownText.literal(fit.message))
  }
}
