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

  func t(_ en: String, _ fr: String) -> String { lang == .fr ? fr : en }

  /// The name of a lifecycle group as readers know it.
  func groupName(_ group: LifecycleGroup) -> String {
    switch group {
    case .loyal: t("Loyal customers", "Clients fidèles")
    case .potential: t("Potential customers", "Clients potentiels")
    case .new: t("New customers", "Nouveaux clients")
    case .atRisk: t("At-risk customers", "Clients à risque")
    case .lost: t("Lost customers", "Clients perdus")
    }
  }

  /// The name of the customers an action targets.
  func groupName(_ group: CustomerGroup) -> String {
    switch group {
    case .lifecycle(let group): groupName(group)
    case .oneTimeBuyers: t("One-time buyers", "Acheteurs d'une seule commande")
    case .oneTimeBuyersNotLost: t("One-time buyers not yet lost", "Acheteurs d'une seule commande pas encore perdus")
    case .cluster(let id): r.clusters.profiles.first { $0.id == id }.map { "\(t("Cluster", "Cluster")) \(id) – \(clusterName($0.name))" } ?? "\(t("Cluster", "Cluster")) \(id)"
    }
  }

  func segmentName(_ segment: RFMSegment) -> String {
    switch segment {
    case .champions: t("Champions", "Champions")
    case .loyal: t("Loyal Customers", "Clients fidèles")
    case .potentialLoyalist: t("Potential Loyalist", "Fidèles potentiels")
    case .newCustomers: t("New Customers", "Nouveaux clients")
    case .promising: t("Promising", "Prometteurs")
    case .needAttention: t("Need Attention", "À surveiller")
    case .aboutToSleep: t("About To Sleep", "En sommeil imminent")
    case .atRisk: t("At Risk", "À risque")
    case .cantLose: t("Can't Lose Them", "À ne pas perdre")
    case .hibernating: t("Hibernating", "En hibernation")
    case .lost: t("Lost", "Perdus")
    }
  }

  func clusterName(_ name: ClusterName) -> String {
    let kind =
      switch name.kind {
      case .highValue: t("high value", "haute valeur")
      case .dormantBigSpenders: t("dormant big spenders", "gros acheteurs endormis")
      case .dormant: t("dormant", "endormis")
      case .loyalRegulars: t("loyal regulars", "habitués fidèles")
      case .recentNewcomers: t("recent newcomers", "nouveaux venus récents")
      case .occasional: t("occasional", "occasionnels")
      }
    return name.rank <= 1 ? kind : "\(kind) (\(name.rank))"
  }

  func kpiName(_ id: KPIID) -> String {
    switch id {
    case .engagedShare: t("Engaged customers (ordered in the last \(r.lifecycle.atRiskDays) days)", "Clients engagés (achat dans les \(r.lifecycle.atRiskDays) derniers jours)")
    case .averageOrderValue: t("Average order value", "Panier moyen")
    case .ordersPerCustomerPerYear: t("Orders per customer per year", "Fréquence d'achat (commandes par client et par an)")
    case .repeatPurchaseRate: t("Repeat-purchase rate", "Taux de réachat")
    case .monthlyChurn: t("Monthly churn of the active base", "Taux de churn mensuel de la base active")
    case .predictedCLVMean: t("Predicted customer lifetime value (mean, \(r.clv.horizonMonths) months)", "Valeur vie client prédite (moyenne, \(r.clv.horizonMonths) mois)")
    case .satisfaction: t("Average satisfaction (out of 5)", "Satisfaction moyenne (sur 5)")
    case .reactivationRate: t("Reactivation rate", "Taux de réactivation")
    case .activeShare: t("Share still active", "Part encore active")
    case .repeatRateWithoutContact: t("Repeat rate of customers without service contact", "Taux de réachat des clients sans contact service")
    case .surveyResponseRate: t("Survey response rate", "Taux de réponse à l'enquête")
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
    case .inactiveCustomers: t("Customers inactive for more than \(r.lifecycle.atRiskDays) days", "Clients inactifs depuis plus de \(r.lifecycle.atRiskDays) jours")
    case .orderValueDrop: t("Average order value drop, month over month", "Baisse du panier moyen d'un mois sur l'autre")
    case .monthlyChurn: t("Monthly churn of the active base", "Taux de churn mensuel de la base active")
    case .lowSatisfaction: t("Average satisfaction", "Satisfaction moyenne")
    }
  }

  func alertThreshold(_ a: AnalysisResult.Alert) -> String {
    switch a.id {
    case .inactiveCustomers: t("> \(f.count(Int(a.threshold))) days", "> \(f.count(Int(a.threshold))) jours")
    case .lowSatisfaction: "< " + f.number(a.threshold, digits: 2) + " / 5"
    case .orderValueDrop, .monthlyChurn: "> " + f.percent(a.threshold)
    }
  }

  func alertFigure(_ a: AnalysisResult.Alert) -> String {
    switch a.unit {
    case .customers: t("\(f.count(Int(a.figure))) customers", "\(f.count(Int(a.figure))) clients")
    case .score: f.number(a.figure, digits: 2) + " / 5"
    case .share, .currency, .count: f.percent(a.figure)
    }
  }

  /// The whole report.
  public func document() -> ReportDocument {
    var blocks: [ReportDocument.Block] = []
    blocks += executiveSummary()
    blocks += opportunitiesAndRisks()
    blocks += recommendations()
    blocks += kpisAndAlerts()
    blocks += retention()
    blocks += predictedValue()
    blocks += nextSteps()
    blocks += methodology()
    let title = t("Customer retention report", "Rapport de fidélisation client") + (tenantName.isEmpty ? "" : " – " + MarkdownText.literal(tenantName))
    let subtitle = t(
      "\(f.count(r.customers)) customers, orders from \(f.date(r.period.first)) to \(f.date(r.period.last)), as of \(f.date(r.asOf))",
      "\(f.count(r.customers)) clients, commandes du \(f.date(r.period.first)) au \(f.date(r.period.last)), au \(f.date(r.asOf))")
    return ReportDocument(title: title, subtitle: subtitle, language: lang, blocks: blocks)
  }

  // MARK: 1. Executive summary

  func executiveSummary() -> [ReportDocument.Block] {
    let k = r.kpis
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: t("Executive summary", "Synthèse exécutive")),
      .heading(level: 2, text: t("Introduction", "Introduction")),
      .paragraph(t(
        "This report analyses the purchases of \(f.count(r.customers)) customers over \(r.period.months) months, from \(f.date(r.period.first)) to \(f.date(r.period.last)): \(f.count(r.orders)) orders, \(f.money(r.revenue)). Its aim: know which customers to keep, which to win back and where value can grow, then set the actions and the figures that measure their effect.",
        "Ce rapport analyse les achats de \(f.count(r.customers)) clients sur \(r.period.months) mois, du \(f.date(r.period.first)) au \(f.date(r.period.last)) : \(f.count(r.orders)) commandes, \(f.money(r.revenue)). Objectif : savoir quels clients fidéliser, lesquels reconquérir et où la valeur peut croître, puis fixer les actions et les indicateurs qui en mesurent l'effet.")),
      .heading(level: 2, text: t("Overall performance", "Performance globale")),
      .bullets([
        t("**Customers**: \(f.count(r.customers)) customers analysed, \(f.count(r.orders)) orders, revenue \(f.money(r.revenue))",
          "**Clientèle** : \(f.count(r.customers)) clients analysés, \(f.count(r.orders)) commandes, chiffre d'affaires \(f.money(r.revenue))"),
        t("**Engagement**: average order value \(f.money(k.averageOrderValue)), \(f.number(k.ordersPerCustomer, digits: 2)) orders per customer, revenue per customer \(f.money(k.revenuePerCustomer))",
          "**Engagement** : panier moyen de \(f.money(k.averageOrderValue)), \(f.number(k.ordersPerCustomer, digits: 2)) commandes par client, chiffre d'affaires par client \(f.money(k.revenuePerCustomer))"),
        t("**Retention**: \(f.percent(k.engagedShare)) of customers engaged (ordered in the last \(r.lifecycle.atRiskDays) days); repeat-purchase rate \(f.percent(k.repeatPurchaseRate))",
          "**Rétention** : \(f.percent(k.engagedShare)) de clients engagés (achat dans les \(r.lifecycle.atRiskDays) derniers jours) ; taux de réachat \(f.percent(k.repeatPurchaseRate))"),
      ]),
      .heading(level: 2, text: t("Key points", "Points clés")),
    ]
    var points: [String] = []
    for p in r.keyPoints {
      switch p.id {
      case .revenueAtRisk:
        points.append(t(
          "**Retention alert**: \(f.count(p.customers ?? 0)) \(subjectName(p.subject).lowercased()) (\(f.percent(p.share ?? 0)) of customers) brought \(f.money(p.value ?? 0)) (\(f.percent(p.ratio ?? 0)) of revenue) and have stopped ordering.",
          "**Alerte rétention** : \(f.count(p.customers ?? 0)) \(subjectName(p.subject).lowercased()) (\(f.percent(p.share ?? 0)) des clients) ont apporté \(f.money(p.value ?? 0)) (\(f.percent(p.ratio ?? 0)) du chiffre d'affaires) et ne commandent plus."))
      case .highValueCluster:
        points.append(t(
          "**Highest-value cluster**: \(f.count(p.customers ?? 0)) customers \"\(subjectName(p.subject))\" with an average order value of \(f.money(p.value ?? 0)), \(f.times(p.ratio ?? 0)) the average of all orders.",
          "**Cluster à plus forte valeur** : \(f.count(p.customers ?? 0)) clients « \(subjectName(p.subject)) » avec un panier moyen de \(f.money(p.value ?? 0)), soit \(f.times(p.ratio ?? 0)) le panier moyen de l'ensemble des commandes."))
      case .alert:
        if case .alert(let id) = p.subject, let a = r.alerts.first(where: { $0.id == id }) {
          points.append(t(
            "**Biggest alert**: \(alertName(a.id).lowercased()) at \(alertFigure(a)) (threshold \(alertThreshold(a))).",
            "**Alerte principale** : \(alertName(a.id).lowercased()) à \(alertFigure(a)) (seuil \(alertThreshold(a)))."))
        }
      }
    }
    blocks.append(.steps(points))
    return blocks
  }

  // MARK: 2. Opportunities and risks

  func groupMeaning(_ group: LifecycleGroup) -> String {
    switch group {
    case .loyal: t("Recent, frequent and high-spending: protect and reward them.", "Récents, fréquents et dépensiers : à protéger et récompenser.")
    case .potential: t("Active but with modest frequency or spend: room to grow their basket.", "Actifs mais de fréquence ou de dépense modérée : potentiel d'augmentation du panier.")
    case .new: t("First ordered recently: the second order decides whether they stay.", "Premier achat récent : la deuxième commande décide de leur fidélité.")
    case .atRisk: t("No order for more than \(r.lifecycle.atRiskDays) days: act within 30 days.", "Aucune commande depuis plus de \(r.lifecycle.atRiskDays) jours : agir sous 30 jours.")
    case .lost: t("No order for more than \(r.lifecycle.lostDays) days: win back or learn why they left.", "Aucune commande depuis plus de \(r.lifecycle.lostDays) jours : reconquérir ou comprendre leur départ.")
    }
  }

  func opportunitiesAndRisks() -> [ReportDocument.Block] {
    let header = [
      t("Group", "Groupe"), t("Customers", "Clients"), t("Share", "Part"), t("Revenue", "Chiffre d'affaires"), t("Revenue share", "Part du CA"),
      t("Mean recency (days)", "Récence moyenne (jours)"), t("Orders per customer", "Commandes par client"), t("Average order value", "Panier moyen"),
    ]
    func row<Name>(_ name: String, _ g: GroupProfile<Name>) -> [String] {
      [name, f.count(g.customers), f.percent(g.share), f.money(g.revenue), f.percent(g.revenueShare), f.number(g.meanRecency, digits: 1), f.number(g.meanFrequency, digits: 2), f.money(g.averageOrderValue)]
    }
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: t("Strategic insights: opportunities and risks", "Insights stratégiques : opportunités et risques")),
      .heading(level: 2, text: t("Story and key findings", "Histoire et découvertes clés")),
      .bullets(keyFindings()),
      .heading(level: 2, text: t("Lifecycle groups", "Groupes de cycle de vie")),
      .chart(Chart(
        title: t("Customers per lifecycle group", "Clients par groupe de cycle de vie"),
        kind: .bar(labels: r.lifecycle.groups.map { groupName($0.name) }, values: r.lifecycle.groups.map { Double($0.customers) }, valueLabels: r.lifecycle.groups.map { f.count($0.customers) }),
        xLabel: t("Group", "Groupe"), yLabel: t("Customers", "Clients"))),
      .table(.init(header: header, rows: r.lifecycle.groups.map { row(groupName($0.name), $0) }, numeric: Set(1...7))),
      .heading(level: 2, text: t("Growth opportunities", "Opportunités de croissance")),
    ]
    for g in r.lifecycle.groups where [.loyal, .potential, .new].contains(g.name) && g.customers > 0 {
      blocks.append(.heading(level: 3, text: "\(groupName(g.name)) (\(f.count(g.customers)) \(t("customers", "clients")))"))
      blocks.append(.bullets([
        t("**Profile**: \(f.percent(g.share)) of customers, \(f.percent(g.revenueShare)) of revenue, average order value \(f.money(g.averageOrderValue))",
          "**Profil** : \(f.percent(g.share)) des clients, \(f.percent(g.revenueShare)) du chiffre d'affaires, panier moyen \(f.money(g.averageOrderValue))"),
        t("**What it means**: ", "**Ce que cela signifie** : ") + groupMeaning(g.name),
      ]))
    }
    for c in r.clusters.profiles where c.name.kind == .highValue {
      blocks.append(.heading(level: 3, text: "\(t("Cluster", "Cluster")) \(c.id) – \"\(clusterName(c.name))\" (\(f.count(c.profile.customers)) \(t("customers", "clients")))"))
      blocks.append(.bullets([
        t("**Profile**: average order value \(f.money(c.profile.averageOrderValue)) (\(f.times(c.orderValueIndex)) the average), \(f.number(c.profile.meanFrequency, digits: 2)) orders per customer, \(f.percent(c.profile.revenueShare)) of revenue",
          "**Profil** : panier moyen \(f.money(c.profile.averageOrderValue)) (\(f.times(c.orderValueIndex)) la moyenne), \(f.number(c.profile.meanFrequency, digits: 2)) commandes par client, \(f.percent(c.profile.revenueShare)) du chiffre d'affaires"),
        t("**Opportunity**: VIP programme with premium service; keep them engaged and prevent churn.", "**Opportunité** : programme VIP avec services premium ; maintenir l'engagement et prévenir le churn."),
      ]))
    }
    blocks.append(.heading(level: 2, text: t("Threats and risks", "Menaces et risques")))
    for g in r.lifecycle.groups where [.atRisk, .lost].contains(g.name) && g.customers > 0 {
      blocks.append(.heading(level: 3, text: "\(groupName(g.name)) (\(f.count(g.customers)) \(t("customers", "clients")) – \(f.percent(g.share)))"))
      blocks.append(.bullets([
        t("**Profile**: mean recency \(f.number(g.meanRecency, digits: 1)) days, \(f.percent(g.revenueShare)) of past revenue (\(f.money(g.revenue)))",
          "**Profil** : récence moyenne \(f.number(g.meanRecency, digits: 1)) jours, \(f.percent(g.revenueShare)) du chiffre d'affaires passé (\(f.money(g.revenue)))"),
        t("**What it means**: ", "**Ce que cela signifie** : ") + groupMeaning(g.name),
      ]))
    }
    blocks.append(.heading(level: 2, text: t("RFM segments", "Segments RFM")))
    blocks.append(.table(.init(header: [t("Segment", "Segment")] + header.dropFirst(), rows: r.rfm.segments.filter { $0.customers > 0 }.map { row(segmentName($0.name), $0) }, numeric: Set(1...7))))
    blocks.append(.heading(level: 2, text: t("Clusters (K-Means)", "Clusters (K-Means)")))
    blocks.append(.table(.init(
      header: [t("Cluster", "Cluster")] + header.dropFirst(), rows: r.clusters.profiles.map { row("\($0.id) – \(clusterName($0.name))", $0.profile) }, numeric: Set(1...7))))
    if r.clusters.profiles.count > 1 {
      blocks.append(.chart(Chart(
        title: t("Clusters: orders per customer against average order value", "Clusters : commandes par client et panier moyen"),
        kind: .scatter(
          points: r.clusters.profiles.map { (x: $0.profile.meanFrequency, y: $0.profile.averageOrderValue, size: $0.profile.share, label: "\($0.id) – \(clusterName($0.name))") },
          xTicks: [], yTicks: []),
        xLabel: t("Orders per customer", "Commandes par client"), yLabel: t("Average order value", "Panier moyen") + " (\(f.currencySymbol))")))
    }
    return blocks
  }

  /// What the data says, one finding per line, each with its figures.
  func keyFindings() -> [String] {
    var findings: [String] = []
    if let loyal = r.lifecycle.groups.first(where: { $0.name == .loyal }), loyal.customers > 0 {
      findings.append(t(
        "**Loyal customers**: \(f.percent(loyal.share)) of customers bring \(f.percent(loyal.revenueShare)) of revenue, with \(f.number(loyal.meanFrequency, digits: 2)) orders each on average.",
        "**Clients fidèles** : \(f.percent(loyal.share)) des clients apportent \(f.percent(loyal.revenueShare)) du chiffre d'affaires, avec \(f.number(loyal.meanFrequency, digits: 2)) commandes chacun en moyenne."))
    }
    findings.append(t(
      "**One-time buyers**: \(f.percent(r.kpis.oneTimeBuyerRate)) of customers have not come back after their first order.",
      "**Acheteurs occasionnels** : \(f.percent(r.kpis.oneTimeBuyerRate)) des clients ne sont pas revenus après leur premier achat."))
    if let s = r.insights.serviceContact {
      findings.append(t(
        "**Service contact**: customers who contacted the service repurchase at \(f.percent(s.withContact.repeatRate)), against \(f.percent(s.withoutContact.repeatRate)) for the others.",
        "**Contact avec le service client** : les clients qui ont contacté le service rachètent à \(f.percent(s.withContact.repeatRate)), contre \(f.percent(s.withoutContact.repeatRate)) pour les autres."))
    }
    if let s = r.insights.satisfaction, let correlation = s.correlation {
      findings.append(t(
        "**Satisfaction**: average \(f.number(s.average, digits: 2)) out of 5; its correlation with repurchase is \(f.number(correlation, digits: 2)).",
        "**Satisfaction** : moyenne de \(f.number(s.average, digits: 2)) sur 5 ; sa corrélation avec le réachat est de \(f.number(correlation, digits: 2))."))
    }
    if let p = r.insights.promotion {
      findings.append(t(
        "**Promotions**: \(f.percent(p.promo.orderShare)) of orders, at \(f.money(p.promo.averageOrderValue)) on average against \(f.money(p.normal.averageOrderValue)) in normal periods.",
        "**Promotions** : \(f.percent(p.promo.orderShare)) des commandes, à \(f.money(p.promo.averageOrderValue)) en moyenne contre \(f.money(p.normal.averageOrderValue)) en période normale."))
    }
    return findings
  }

  // MARK: 3. Recommended actions

  func actionSteps(_ id: ActionID) -> [String] {
    switch id {
    case .reactivation:
      [t("\"Welcome back\" offer on the next order", "Offre spéciale « Welcome Back » sur la prochaine commande"), t("Three-month reactivation sequence (email, then SMS)", "Programme de réactivation sur 3 mois (e-mail puis SMS)")]
    case .vipCare:
      [t("Dedicated customer service", "Service client dédié"), t("Early access to new products", "Accès anticipé aux nouveaux produits"), t("Free delivery and exclusive events", "Livraison gratuite et événements exclusifs")]
    case .crossSell:
      [t("Product recommendations and personalised bundles", "Recommandations produits et bundles personnalisés"), t("Segmented e-mail marketing; upselling at checkout", "E-mail marketing segmenté ; upselling au moment de l'achat")]
    case .secondPurchase:
      [t("Personalised campaign for customers who have not made a second purchase", "Campagne personnalisée pour les clients qui n'ont pas effectué de deuxième achat"), t("Follow-up after delivery to catch delivery or quality problems", "Suivi après livraison pour détecter les problèmes de livraison ou de qualité")]
    case .serviceFollowUp:
      [t("Proactive service contact after the first order", "Contact proactif du service client après la première commande"), t("Improve delivery logistics and after-sales service", "Amélioration de la logistique de livraison et du service après-vente")]
    case .churnSurvey:
      [t("Exit satisfaction survey", "Enquêtes de satisfaction sortantes"), t("Analysis of reasons for leaving; A/B tests on price and service", "Analyse des motifs d'abandon ; tests A/B prix et services")]
    }
  }

  func actionTitle(_ id: ActionID) -> String {
    switch id {
    case .reactivation: t("Priority reactivation campaign", "Campagne de réactivation prioritaire")
    case .vipCare: t("VIP programme for the high-value cluster", "Programme VIP pour le cluster haute valeur")
    case .crossSell: t("Cross-selling to potential customers", "Optimisation cross-selling des clients potentiels")
    case .secondPurchase: t("Second-purchase campaign", "Campagne de deuxième achat")
    case .serviceFollowUp: t("Service follow-up after the first order", "Suivi service client après la première commande")
    case .churnSurvey: t("Churn-cause analysis", "Analyse des causes de churn")
    }
  }

  func estimateSentence(_ a: AnalysisResult.Action) -> String? {
    guard let e = a.estimate else { return nil }
    switch a.id {
    case .reactivation, .secondPurchase:
      return t(
        "if \(f.percent(e.rate)) of the \(f.count(e.customers)) customers order once more at their own average order value (together \(f.money(e.base))): +\(f.money(e.value))",
        "si \(f.percent(e.rate)) des \(f.count(e.customers)) clients commandent encore une fois à leur panier moyen (au total \(f.money(e.base))) : +\(f.money(e.value))")
    case .serviceFollowUp:
      return t(
        "if the \(f.count(e.customers)) one-time buyers came back as often as customers with a service contact (\(f.percent(e.rate)) more), each at their average order value (together \(f.money(e.base))): +\(f.money(e.value))",
        "si les \(f.count(e.customers)) acheteurs d'une seule commande revenaient aussi souvent que les clients ayant contacté le service (\(f.percent(e.rate)) de plus), chacun à son panier moyen (au total \(f.money(e.base))) : +\(f.money(e.value))")
    case .vipCare, .crossSell, .churnSurvey:
      return t(
        "if the predicted \(r.clv.horizonMonths)-month value of the \(f.count(e.customers)) customers (\(f.money(e.base))) grows by \(f.percent(e.rate)): +\(f.money(e.value))",
        "si la valeur prédite à \(r.clv.horizonMonths) mois des \(f.count(e.customers)) clients (\(f.money(e.base))) progresse de \(f.percent(e.rate)) : +\(f.money(e.value))")
    }
  }

  func recommendations() -> [ReportDocument.Block] {
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: t("Recommended actions", "Recommandations actionnables")),
      .heading(level: 2, text: t("Proposed actions and strategies", "Actions et stratégies proposées")),
      .table(.init(
        header: [t("Action", "Action"), t("Customers targeted", "Clients ciblés"), t("KPI to follow", "KPI à suivre"), t("Estimated gain", "Gain estimé")],
        rows: r.actions.enumerated().map { i, a in
          ["\(i + 1). \(actionTitle(a.id))", f.count(a.targetCustomers), kpiName(a.kpi), a.estimate.map { "+" + f.money($0.value) } ?? "–"]
        }, numeric: [1, 3])),
    ]
    for (i, a) in r.actions.enumerated() {
      blocks.append(.heading(level: 2, text: "\(i + 1). \(actionTitle(a.id))"))
      var items = [
        t("**Target**: \(f.count(a.targetCustomers)) customers (\(a.segments.map(groupName).joined(separator: " + ")))",
          "**Cible** : \(f.count(a.targetCustomers)) clients (\(a.segments.map(groupName).joined(separator: " + ")))"),
        t("**Actions**: ", "**Actions** : ") + actionSteps(a.id).joined(separator: t("; ", " ; ")),
      ]
      let unit: FigureUnit = a.kpi == .averageOrderValue ? .currency : .share
      let current = a.kpiCurrent.map { t(" (now \(format($0, unit: unit)))", " (actuel \(format($0, unit: unit)))") } ?? ""
      items.append(t("**KPI**: \(kpiName(a.kpi).lowercased()) ≥ \(format(a.kpiTarget, unit: unit))\(current)", "**KPI** : \(kpiName(a.kpi).lowercased()) ≥ \(format(a.kpiTarget, unit: unit))\(current)"))
      if let estimate = estimateSentence(a) { items.append(t("**Estimate**: ", "**Estimation** : ") + estimate) }
      blocks.append(.bullets(items))
    }
    return blocks
  }

  // MARK: 4. KPIs and alerts

  func kpisAndAlerts() -> [ReportDocument.Block] {
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: t("KPIs to monitor", "KPIs à surveiller")),
      .heading(level: 2, text: t("Critical indicators", "Indicateurs critiques")),
      .table(.init(
        header: [t("KPI", "KPI"), t("Current", "Actuel"), t("Target", "Objectif"), t("Gap", "Écart")],
        rows: r.targets.map { [kpiName($0.id), format($0.current, unit: $0.unit), format($0.target, unit: $0.unit), format($0.gap, unit: $0.unit)] }, numeric: [1, 2, 3])),
      .heading(level: 2, text: t("Automatic alerts", "Alertes automatiques")),
    ]
    blocks.append(.table(.init(
      header: [t("Alert", "Alerte"), t("Figure", "Valeur"), t("Threshold", "Seuil"), t("Status", "Statut")],
      rows: r.alerts.map { [alertName($0.id), alertFigure($0), alertThreshold($0), $0.raised ? t("⚠ raised", "⚠ déclenchée") : t("ok", "ok")] }, numeric: [1])))
    return blocks
  }

  // MARK: 5. Retention

  func retention() -> [ReportDocument.Block] {
    var blocks: [ReportDocument.Block] = [.heading(level: 1, text: t("Retention", "Rétention"))]
    let recent = Array(r.kpis.cohorts.suffix(12))
    let width = min(12, recent.map(\.retention.count).max() ?? 0)
    var charts: [String] = []
    if !recent.isEmpty && width > 0 {
      charts.append(t("**Heat map**: monthly cohort retention, the share of each cohort ordering again month after month", "**Carte de chaleur** : rétention des cohortes mensuelles, la part de chaque cohorte qui commande à nouveau mois après mois"))
    }
    if let s = r.insights.serviceContact {
      charts.append(t(
        "**Bar chart**: repeat-purchase rate with service contact (\(f.percent(s.withContact.repeatRate))) and without (\(f.percent(s.withoutContact.repeatRate)))",
        "**Graphique à barres** : taux de réachat avec contact avec le service client (\(f.percent(s.withContact.repeatRate))) et sans (\(f.percent(s.withoutContact.repeatRate)))"))
    }
    if r.insights.satisfaction != nil {
      charts.append(t("**Scatter plot**: satisfaction against the probability of buying again", "**Diagramme de dispersion** : satisfaction et probabilité de réachat"))
    }
    if r.insights.promotion != nil {
      charts.append(t("**Histogram**: order values in promotion periods against normal periods", "**Histogramme** : montants des commandes en période promotionnelle et en période normale"))
    }
    if r.insights.categories != nil {
      charts.append(t("**Donut charts**: category preferences of each customer group", "**Graphiques à secteurs** : préférences de catégories de chaque groupe de clients"))
    }
    if !charts.isEmpty {
      blocks.append(.heading(level: 2, text: t("Charts", "Visualisation")))
      blocks.append(.bullets(charts))
    }
    if !recent.isEmpty && width > 0 {
      blocks.append(.heading(level: 2, text: t("Monthly cohorts", "Cohortes mensuelles")))
      blocks.append(.chart(Chart(
        title: t("Monthly cohorts: share of each cohort ordering n months after its first order", "Cohortes mensuelles : part de chaque cohorte qui commande n mois après son premier achat"),
        kind: .heatmap(
          rows: recent.map { "\($0.month) (\(f.count($0.customers)))" }, columns: (0..<width).map { "+\($0)" },
          values: recent.map { c in (0..<width).map { $0 < c.retention.count ? c.retention[$0] : nil } },
          cellLabels: recent.map { c in (0..<width).map { $0 < c.retention.count ? f.percent(c.retention[$0], digits: 0) : "" } }),
        xLabel: t("Months after the first order", "Mois après le premier achat"), yLabel: t("Cohort (customers)", "Cohorte (clients)"))))
    }
    let months = r.kpis.monthly.suffix(12)
    blocks.append(.heading(level: 2, text: t("Monthly activity and churn", "Activité et churn mensuels")))
    blocks.append(.table(.init(
      header: [t("Month", "Mois"), t("Active customers", "Clients actifs"), t("New customers", "Nouveaux clients"), t("Orders", "Commandes"), t("Revenue", "Chiffre d'affaires"),
               t("Average order value", "Panier moyen"), t("Active base", "Base active"), t("Churn", "Churn")],
      rows: months.map { [$0.month, f.count($0.activeCustomers), f.count($0.newCustomers), f.count($0.orders), f.money($0.revenue), f.money($0.averageOrderValue), f.count($0.activeBase), $0.churn.map { f.percent($0) } ?? "–"] },
      numeric: Set(1...7))))
    if let s = r.insights.serviceContact {
      blocks.append(.heading(level: 2, text: t("Retention with and without service contact", "Rétention avec et sans contact avec le service client")))
      blocks.append(.chart(Chart(
        title: t("Repeat-purchase rate with and without service contact", "Taux de réachat avec et sans contact avec le service client"),
        kind: .bar(
          labels: [t("With contact", "Avec contact"), t("Without contact", "Sans contact")], values: [s.withContact.repeatRate, s.withoutContact.repeatRate],
          valueLabels: [f.percent(s.withContact.repeatRate), f.percent(s.withoutContact.repeatRate)]),
        xLabel: "", yLabel: t("Repeat-purchase rate", "Taux de réachat"))))
      var text = t(
        "\(f.count(s.withContact.customers)) customers with a service contact repurchased at \(f.percent(s.withContact.repeatRate)), against \(f.percent(s.withoutContact.repeatRate)) for the \(f.count(s.withoutContact.customers)) without",
        "\(f.count(s.withContact.customers)) clients ayant contacté le service ont racheté à \(f.percent(s.withContact.repeatRate)), contre \(f.percent(s.withoutContact.repeatRate)) pour les \(f.count(s.withoutContact.customers)) sans contact")
      if let lift = s.repeatLift { text += t(" (\(f.percent(lift)) relative difference).", " (écart relatif de \(f.percent(lift))).") } else { text += "." }
      blocks.append(.paragraph(text))
    }
    if let s = r.insights.satisfaction {
      blocks.append(.heading(level: 2, text: t("Satisfaction and repurchase", "Satisfaction et réachat")))
      blocks.append(.chart(Chart(
        title: t("Repeat-purchase rate by satisfaction score", "Taux de réachat selon la satisfaction"),
        kind: .scatter(points: s.levels.map { (x: Double($0.score), y: $0.repeatRate, size: Double($0.customers) / Double(max(1, s.customers)), label: f.percent($0.repeatRate)) }, xTicks: [], yTicks: []),
        xLabel: t("Satisfaction (1–5)", "Satisfaction (1–5)"), yLabel: t("Repeat-purchase rate", "Taux de réachat"))))
      blocks.append(.table(.init(
        header: [t("Satisfaction", "Satisfaction"), t("Customers", "Clients"), t("Repeat-purchase rate", "Taux de réachat")],
        rows: s.levels.map { ["\($0.score)", f.count($0.customers), f.percent($0.repeatRate)] }, numeric: [1, 2])))
      let corr = s.correlation.map { f.number($0, digits: 2) } ?? "–"
      blocks.append(.paragraph(t(
        "Average satisfaction \(f.number(s.average, digits: 2)) out of 5 over \(f.count(s.customers)) customers; correlation with repurchase: \(corr).",
        "Satisfaction moyenne \(f.number(s.average, digits: 2)) sur 5 pour \(f.count(s.customers)) clients ; corrélation avec le réachat : \(corr).")))
    }
    if let p = r.insights.promotion {
      blocks.append(.heading(level: 2, text: t("Promotion and normal periods", "Périodes promotionnelles et normales")))
      let bins = p.bins.enumerated().map { i, lower in i + 1 < p.bins.count ? "\(f.number(lower))–\(f.number(p.bins[i + 1]))" : "≥ \(f.number(lower))" }
      blocks.append(.chart(Chart(
        title: t("Order values in promotion and normal periods", "Montants des commandes en période promotionnelle et normale"),
        kind: .histogram(bins: bins, series: [(t("Promotion", "Promotion"), p.promoHistogram), (t("Normal", "Normale"), p.normalHistogram)]),
        xLabel: t("Order value", "Montant de la commande") + " (\(f.currencySymbol))", yLabel: t("Orders", "Commandes"))))
      blocks.append(.table(.init(
        header: [t("Period", "Période"), t("Orders", "Commandes"), t("Share of orders", "Part des commandes"), t("Revenue", "Chiffre d'affaires"), t("Average order value", "Panier moyen")],
        rows: [
          [t("Promotion", "Promotion"), f.count(p.promo.orders), f.percent(p.promo.orderShare), f.money(p.promo.revenue), f.money(p.promo.averageOrderValue)],
          [t("Normal", "Normale"), f.count(p.normal.orders), f.percent(p.normal.orderShare), f.money(p.normal.revenue), f.money(p.normal.averageOrderValue)],
        ], numeric: [1, 2, 3, 4])))
    }
    if let c = r.insights.categories {
      blocks.append(.heading(level: 2, text: t("Category preferences per group", "Préférences de catégories par groupe")))
      blocks.append(.chart(Chart(
        title: t("Revenue share of each category, per lifecycle group", "Part du chiffre d'affaires de chaque catégorie, par groupe"),
        kind: .donuts(groups: c.byGroup.map { (groupName($0.group), $0.shares) }, sliceLabels: c.categories.map { $0 == "other" ? t("other", "autres") : MarkdownText.literal($0) }),
        xLabel: "", yLabel: "")))
      blocks.append(.table(.init(
        header: [t("Group", "Groupe")] + c.categories.map { $0 == "other" ? t("other", "autres") : MarkdownText.literal($0) },
        rows: c.byGroup.map { [groupName($0.group)] + $0.shares.map { f.percent($0) } }, numeric: Set(1...c.categories.count))))
    }
    return blocks
  }

  // MARK: 6. Predicted value

  func predictedValue() -> [ReportDocument.Block] {
    let c = r.clv
    let bins = c.distribution.map { b in b.upper.map { "\(f.number(b.lower))–\(f.number($0))" } ?? "≥ \(f.number(b.lower))" }
    var blocks: [ReportDocument.Block] = [
      .heading(level: 1, text: t("Predicted value", "Valeur prédite")),
      .paragraph(t(
        "Over the next \(c.horizonMonths) months (monthly discount rate \(f.percent(c.monthlyDiscountRate))), the customers are expected to place \(f.number(c.expectedPurchases)) purchases worth \(f.money(c.predictedTotal)): \(f.money(c.predictedMean)) per customer on average (median \(f.money(c.predictedMedian))), against \(f.money(c.historicalMean)) spent so far. Mean probability of being still active: \(f.percent(c.meanProbabilityAlive)).",
        "Sur les \(c.horizonMonths) prochains mois (taux d'actualisation mensuel \(f.percent(c.monthlyDiscountRate))), les clients devraient passer \(f.number(c.expectedPurchases)) achats pour \(f.money(c.predictedTotal)) : \(f.money(c.predictedMean)) par client en moyenne (médiane \(f.money(c.predictedMedian))), contre \(f.money(c.historicalMean)) dépensés jusqu'ici. Probabilité moyenne d'être encore actif : \(f.percent(c.meanProbabilityAlive)).")),
      .chart(Chart(
        title: t("Distribution of predicted customer lifetime value", "Distribution de la valeur vie client prédite"),
        kind: .histogram(bins: bins, series: [(t("Customers", "Clients"), c.distribution.map(\.count))]),
        xLabel: t("Predicted value", "Valeur prédite") + " (\(f.currencySymbol))", yLabel: t("Customers", "Clients"))),
    ]
    if !c.valuableAtRisk.isEmpty {
      blocks.append(.heading(level: 2, text: t("Valuable customers most likely to be lost", "Clients de valeur les plus susceptibles d'être perdus")))
      let band = AnalysisResult.CLVSummary.reachableRisk
      blocks.append(.paragraph(t(
        "Among the 20 % of customers with the highest revenue, those whose probability of still being active is between \(f.percent(band.lowerBound, digits: 0)) and \(f.percent(band.upperBound, digits: 0)): at risk, and still worth a personal call.",
        "Parmi les 20 % de clients au chiffre d'affaires le plus élevé, ceux dont la probabilité d'être encore actifs est comprise entre \(f.percent(band.lowerBound, digits: 0)) et \(f.percent(band.upperBound, digits: 0)) : à risque, et encore à la portée d'un contact personnel.")))
      blocks.append(.table(.init(
        header: [t("Customer", "Client"), t("Revenue so far", "CA réalisé"), t("Recency (days)", "Récence (jours)"), t("Probability active", "Probabilité active"), t("Predicted value", "Valeur prédite")],
        rows: c.valuableAtRisk.map { [MarkdownText.literal($0.customerId), f.money($0.revenue), f.count($0.recency), f.percent($0.probabilityAlive), f.money($0.predictedClv)] }, numeric: [1, 2, 3, 4])))
    }
    return blocks
  }

  // MARK: 7. Next steps

  func nextSteps() -> [ReportDocument.Block] {
    let first = r.actions.first.map { actionTitle($0.id) } ?? t("Reactivation campaign", "Campagne de réactivation")
    let second = r.actions.dropFirst().first.map { actionTitle($0.id) } ?? t("Follow-up of the KPIs", "Suivi des KPIs")
    var plan = [
      t("**Weeks 1–2**: launch \"\(first)\"", "**Semaines 1-2** : lancement « \(first) »"),
      t("**Week 3**: roll out \"\(second)\"", "**Semaine 3** : déploiement « \(second) »"),
      t("**Week 4**: measure the results against the KPIs below and adjust", "**Semaine 4** : analyse des résultats au regard des KPIs ci-dessous et optimisation"),
    ]
    if let remaining = r.actions.dropFirst(2).first { plan.insert(t("**Week 3**: prepare \"\(actionTitle(remaining.id))\"", "**Semaine 3** : préparation « \(actionTitle(remaining.id)) »"), at: 2) }
    return [
      .heading(level: 1, text: t("Next steps", "Prochaines étapes")),
      .heading(level: 2, text: t("30-day action plan", "Plan d'action 30 jours")),
      .bullets(plan),
      .heading(level: 2, text: t("90-day goals", "Objectifs 90 jours")),
      .bullets(r.targets.map { "\(kpiName($0.id)) : \(format($0.current, unit: $0.unit)) → \(format($0.target, unit: $0.unit))".replacingOccurrences(of: " : ", with: lang == .fr ? " : " : ": ") }),
      .heading(level: 2, text: t("6-month vision", "Vision 6 mois")),
      .bullets(vision()),
      .heading(level: 2, text: t("Conclusion and follow-up", "Conclusion et suivi")),
      .paragraph(conclusion()),
    ]
  }

  func vision() -> [String] {
    var items: [String] = []
    if let o = r.clv.sixMonths {
      items.append(t(
        "**Expected from today's customers**: \(f.number(o.expectedPurchases)) purchases worth \(f.money(o.expectedRevenue)) over the next 6 months, \(f.money(o.monthlyRevenue)) per month against \(f.money(o.recentMonthlyRevenue)) per month over the last 6 months of data; new customers and the actions above come on top.",
        "**Attendu des clients actuels** : \(f.number(o.expectedPurchases)) achats pour \(f.money(o.expectedRevenue)) sur les 6 prochains mois, soit \(f.money(o.monthlyRevenue)) par mois contre \(f.money(o.recentMonthlyRevenue)) par mois sur les 6 derniers mois de données ; les nouveaux clients et les actions ci-dessus s'y ajoutent."))
    }
    items.append(t(
      "**Predictive churn follow-up**: each month, hand the valuable customers most likely to be lost (see \"Predicted value\") to the reactivation campaign.",
      "**Suivi prédictif du churn** : chaque mois, confier les clients de valeur les plus susceptibles d'être perdus (voir « Valeur prédite ») à la campagne de réactivation."))
    items.append(t(
      "**Personalised marketing**: one campaign per customer group, fed by the segment exports (`fidelis segment export`).",
      "**Marketing personnalisé** : une campagne par groupe de clients, alimentée par les exports de segments (`fidelis segment export`)."))
    if r.insights.categories != nil {
      items.append(t(
        "**Product recommendations**: base each group's offers on its category preferences (see \"Retention\").",
        "**Recommandations produits** : fonder les offres de chaque groupe sur ses préférences de catégories (voir « Rétention »)."))
    }
    return items
  }

  func conclusion() -> String {
    let nextReport = parseISODate(r.asOf).map { f.date(isoDate($0 + 30)) } ?? ""
    var text = ""
    if let best = r.actions.filter({ $0.estimate != nil }).max(by: { $0.estimate!.value < $1.estimate!.value }), let e = best.estimate {
      text = t(
        "The largest estimated gain comes from \"\(actionTitle(best.id))\" (+\(f.money(e.value))). ",
        "Le gain estimé le plus élevé vient de « \(actionTitle(best.id)) » (+\(f.money(e.value))). ")
    }
    text += t(
      "Follow-up: run the next report on \(nextReport) and compare its \"KPIs to monitor\" with this one's to measure the effect of the actions.",
      "Suivi : produire le prochain rapport le \(nextReport) et comparer ses « KPIs à surveiller » à ceux de celui-ci pour mesurer l'effet des actions.")
    return text
  }

  // MARK: 8. Methodology

  func methodology() -> [ReportDocument.Block] {
    let q = r.dataQuality
    var items = [
      t("**Reference date**: \(f.date(r.asOf)) (recency is counted in days up to this date)", "**Date de référence** : \(f.date(r.asOf)) (la récence est comptée en jours jusqu'à cette date)"),
      t("**Data**: \(f.count(q.rowsRead)) rows read, \(f.count(q.rowsUsed)) used, \(f.count(q.rowsRejected)) rejected; layout \(layoutName(q.layout)); encoding \(q.encoding); separator \"\(q.separator)\"; date order \(q.dateOrder)",
        "**Données** : \(f.count(q.rowsRead)) lignes lues, \(f.count(q.rowsUsed)) utilisées, \(f.count(q.rowsRejected)) rejetées ; format \(layoutName(q.layout)) ; encodage \(q.encoding) ; séparateur « \(q.separator) » ; ordre des dates \(q.dateOrder)"),
      t("**Segments**: RFM scores 1–5 by quintiles (ties broken by customer id); lifecycle groups: at risk after \(r.lifecycle.atRiskDays) days without an order, lost after \(r.lifecycle.lostDays) days",
        "**Segments** : scores RFM de 1 à 5 par quintiles (égalités départagées par identifiant client) ; groupes : à risque après \(r.lifecycle.atRiskDays) jours sans commande, perdus après \(r.lifecycle.lostDays) jours"),
      t("**Clusters**: K-Means on standardised log recency, frequency and spend; k = \(r.clusters.k) (\(choiceText(r.clusters.chosenBy))), silhouette \(f.number(r.clusters.silhouette, digits: 3)), seed \(r.clusters.seed)",
        "**Clusters** : K-Means sur récence, fréquence et dépense (log, standardisées) ; k = \(r.clusters.k) (\(choiceText(r.clusters.chosenBy))), silhouette \(f.number(r.clusters.silhouette, digits: 3)), graine \(r.clusters.seed)"),
      t("**Lifetime value**: BG/NBD (r = \(f.number(r.clv.bgnbd.r, digits: 4)), α = \(f.number(r.clv.bgnbd.alpha, digits: 4)), a = \(f.number(r.clv.bgnbd.a, digits: 4)), b = \(f.number(r.clv.bgnbd.b, digits: 4)); \(fitText(r.clv.bgnbd.fit))) and Gamma-Gamma (p = \(f.number(r.clv.gammaGamma.p, digits: 4)), q = \(f.number(r.clv.gammaGamma.q, digits: 4)), v = \(f.number(r.clv.gammaGamma.v, digits: 4)); \(fitText(r.clv.gammaGamma.fit)))",
        "**Valeur vie client** : BG/NBD (r = \(f.number(r.clv.bgnbd.r, digits: 4)), α = \(f.number(r.clv.bgnbd.alpha, digits: 4)), a = \(f.number(r.clv.bgnbd.a, digits: 4)), b = \(f.number(r.clv.bgnbd.b, digits: 4)) ; \(fitText(r.clv.bgnbd.fit))) et Gamma-Gamma (p = \(f.number(r.clv.gammaGamma.p, digits: 4)), q = \(f.number(r.clv.gammaGamma.q, digits: 4)), v = \(f.number(r.clv.gammaGamma.v, digits: 4)) ; \(fitText(r.clv.gammaGamma.fit)))"),
    ]
    if q.customerRowsRead > 0 {
      items.append(t("**Customer file**: \(f.count(q.customerRowsRead)) rows, \(f.count(q.customerRowsMatched)) matched to customers with orders", "**Fichier clients** : \(f.count(q.customerRowsRead)) lignes, \(f.count(q.customerRowsMatched)) rapprochées de clients ayant commandé"))
    }
    var blocks: [ReportDocument.Block] = [.heading(level: 1, text: t("Methodology and data quality", "Méthodologie et qualité des données")), .bullets(items)]
    if !q.rejected.isEmpty {
      blocks.append(.table(.init(
        header: [t("Rejected rows: reason", "Lignes rejetées : motif"), t("Rows", "Lignes")], rows: q.rejected.sorted { $0.key < $1.key }.map { [rejectReason($0.key), f.count($0.value)] }, numeric: [1])))
    }
    for warning in q.warnings { blocks.append(.paragraph("⚠ " + warningText(warning))) }
    blocks.append(.paragraph(t("Definitions of every figure: docs/metrics.md. Generated by Fidelis.", "Définition de chaque indicateur : docs/metrics.md. Généré par Fidelis.")))
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
    case .silhouette: t("chosen by silhouette", "choisi par silhouette")
    case .given: t("given by the job", "fixé par le job")
    case .tooFewCustomers: t("too few customers", "trop peu de clients")
    }
  }

  /// Whether a model's fit converged; the optimiser's message says why not.
  func fitText(_ fit: ModelFit) -> String {
    fit.converged ? t("converged", "convergé") : t("not converged: \(MarkdownText.literal(fit.message))", "non convergé : \(MarkdownText.literal(fit.message))")
  }

  func layoutName(_ layout: DataLayout) -> String {
    switch layout {
    case .retailExport: t("retail export (InvoiceNo, StockCode, …, CustomerID, Country)", "export de caisse (InvoiceNo, StockCode, …, CustomerID, Country)")
    case .orders: t("orders (customer, order, date, amount)", "commandes (client, commande, date, montant)")
    case .dailyPurchases: t("daily purchases (customer, date, amount; one order per customer and day)", "achats par jour (client, date, montant ; une commande par client et par jour)")
    case .custom: t("custom", "personnalisé")
    }
  }

  func warningText(_ warning: IngestWarning) -> String {
    switch warning {
    case .ambiguousDateOrder:
      t("every date could be day/month or month/day: read as day/month; pass --date-order mdy if wrong",
        "chaque date peut se lire jour/mois ou mois/jour : lues comme jour/mois ; passer --date-order mdy si c'est faux")
    }
  }

  /// A reject reason's text; a key that is not a reason (from a newer worker) is shown as is.
  func rejectReason(_ key: String) -> String {
    guard let reason = RejectReason(rawValue: key) else { return MarkdownText.literal(key) }
    return switch reason {
    case .missingCustomer: t("missing customer", "client manquant")
    case .badDate: t("bad date", "date illisible")
    case .badAmount: t("bad amount", "montant illisible")
    case .dateOutOfRange: t("date out of range", "date hors limites")
    case .amountOutOfRange: t("amount out of range", "montant hors limites")
    case .zeroAmount: t("zero amount", "montant nul")
    case .returned: t("return", "retour")
    case .duplicateLine: t("duplicate line", "ligne en double")
    case .orderOfAnotherCustomer: t("order id of another customer", "commande d'un autre client")
    case .shortLine: t("missing fields", "champs manquants")
    }
  }
}
