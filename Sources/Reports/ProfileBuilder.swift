import Analytics

/// The page of a `profile` job: what the file holds and how it was read, in the tenant's
/// language, rendered by the same renderers as the analysis report.
public struct ProfileBuilder {
  let profile: DatasetProfile
  let pack: LanguagePack
  let f: NumberStyle

  /// A builder for `profile` in `language`.
  public init(profile: DatasetProfile, language: ReportLanguage) {
    self.profile = profile
    self.pack = language.pack
    self.f = NumberStyle(language: language, currency: "")
  }

  /// The whole page.
  public func document() -> ReportDocument {
    let p = profile
    let first = p.firstDate.map(f.date) ?? "–", last = p.lastDate.map(f.date) ?? "–"
    let further = p.furtherLineItems.map { [[pack.phrase(.profileFurtherLineItems), f.count($0)]] } ?? []
    var blocks: [ReportDocument.Block] = [
      .table(.init(
        header: [pack.phrase(.labelFigure), pack.phrase(.labelValue)],
        rows: [
          [pack.phrase(.profileRowsRead), f.count(p.rows)], [pack.phrase(.profileRowsUsed), f.count(p.rowsUsed)],
        ] + further + [
          [pack.phrase(.labelCustomers), f.count(p.customers)], [pack.phrase(.labelOrders), f.count(p.orders)],
          [pack.phrase(.profileFirstOrder), first], [pack.phrase(.profileLastOrder), last],
          [pack.phrase(.labelRevenue), f.number(p.revenue, digits: 2)],
          [pack.phrase(.profileReturns), pack.phrase(.profileReturnLines, f.count(p.returns.lines), f.count(p.returns.matchedLines), f.number(p.returns.value, digits: 2))],
          [pack.phrase(.profileLayout), pack.layoutName(p.layout)], [pack.phrase(.profileEncoding), p.encoding],
          [pack.phrase(.profileSeparator), "`\(p.separator)`"], [pack.phrase(.profileDateOrder), p.dateOrder],
        ],
        numeric: [])),
    ]
    if let notSettled = pack.salesNotSettledText(p.salesNotSettled, count: f.count) { blocks.append(.paragraph("⚠ " + notSettled)) }
    if !p.rejected.isEmpty {
      blocks.append(.heading(level: 1, text: pack.phrase(.profileRejectedRows)))
      blocks.append(.table(.init(
        header: [pack.phrase(.labelReason), pack.phrase(.labelRows)],
        rows: p.rejected.sorted { $0.key < $1.key }.map { [pack.rejectReason($0.key), f.count($0.value)] }, numeric: [1])))
    }
    return ReportDocument(
      title: pack.phrase(.profileTitle), subtitle: pack.phrase(.profileSubtitle, f.count(p.rows), f.count(p.rowsUsed), first, last),
      language: pack.language, blocks: blocks)
  }
}
