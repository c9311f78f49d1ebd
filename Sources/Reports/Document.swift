/// A report as a sequence of blocks, rendered to Markdown and to HTML from the same
/// content: both formats always print the same figures.
public struct ReportDocument: Sendable {
  public var title: String
  public var subtitle: String
  public var language: ReportLanguage
  public var blocks: [Block]

  /// One piece of content.
  public enum Block: Sendable {
    /// Level 1 is the section, 2 and 3 subsections.
    case heading(level: Int, text: String)
    case paragraph(String)
    case bullets([String])
    /// Numbered list.
    case steps([String])
    case table(Table)
    case chart(Chart)
  }

  /// A table: header, rows of formatted cells, the numeric columns.
  public struct Table: Sendable {
    public var header: [String]
    public var rows: [[String]]
    /// Columns to right-align (numbers).
    public var numeric: Set<Int>

    /// The table without the given columns.
    public func dropping(_ columns: Set<Int>) -> Table {
      guard !columns.isEmpty else { return self }
      let kept = header.indices.filter { !columns.contains($0) }
      return Table(
        header: kept.map { header[$0] }, rows: rows.map { row in kept.map { row[$0] } },
        numeric: Set(kept.enumerated().compactMap { numeric.contains($1) ? $0 : nil }))
    }
  }
}

/// A chart, drawn as inline SVG in HTML and given as a caption (its data is in the tables
/// and the JSON) in Markdown.
public struct Chart: Sendable {
  public var title: String
  public var kind: Kind
  public var xLabel: String
  public var yLabel: String

  public enum Kind: Sendable {
    /// Labelled bars; values are formatted by `valueLabels`.
    case bar(labels: [String], values: [Double], valueLabels: [String])
    /// Two series over the same bins (e.g. promotion vs normal).
    case histogram(bins: [String], series: [(name: String, values: [Double])])
    /// Points with a label; size is relative.
    case scatter(points: [(x: Double, y: Double, size: Double, label: String)], xTicks: [String], yTicks: [String])
    /// A donut per group: slices with labels and shares.
    case donuts(groups: [(name: String, shares: [Double])], sliceLabels: [String])
    /// Rows × columns of shares 0–1, cells labelled.
    case heatmap(rows: [String], columns: [String], values: [[Double?]], cellLabels: [[String]])
    /// Lines over the same points (reports of a series); a nil value leaves a gap. `percent`:
    /// the values are shares, printed as percentages.
    case lines(points: [String], series: [(name: String, values: [Double?])], percent: Bool)
  }
}
