import Analytics
import Foundation

/// Renders documents: Markdown and HTML from one `ReportDocument`.
public enum ReportRenderer {
  /// Markdown: tables, lists and headings; charts appear as their title, since every
  /// figure they draw is in a table next to them.
  public static func markdown(_ doc: ReportDocument) -> String {
    var out = "# \(doc.title)\n\n_\(doc.subtitle)_\n"
    for block in doc.blocks {
      out += "\n"
      switch block {
      case .heading(let level, let text): out += String(repeating: "#", count: level + 1) + " " + text + "\n"
      case .paragraph(let text): out += text + "\n"
      case .bullets(let items): out += items.map { "- " + $0 }.joined(separator: "\n") + "\n"
      case .steps(let items): out += items.enumerated().map { "\($0 + 1). " + $1 }.joined(separator: "\n") + "\n"
      case .table(let table):
        out += "| " + table.header.map(escapeCell).joined(separator: " | ") + " |\n"
        out += "|" + table.header.indices.map { table.numeric.contains($0) ? "---:" : "---" }.joined(separator: "|") + "|\n"
        for row in table.rows { out += "| " + row.map(escapeCell).joined(separator: " | ") + " |\n" }
      case .chart(let chart):
        out += "> 📊 " + chart.title + "\n"
      }
    }
    return out
  }

  static func escapeCell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }

  /// One self-contained HTML page: inline CSS, inline SVG charts, no script, no network.
  public static func html(_ doc: ReportDocument) -> String {
    var body = "<header><h1>\(escape(doc.title))</h1><p class=\"subtitle\">\(escape(doc.subtitle))</p></header>\n<main>\n"
    var chartIndex = 0
    var sectionOpen = false
    for block in doc.blocks {
      switch block {
      case .heading(let level, let text):
        if level == 1 {
          if sectionOpen { body += "</section>\n" }
          body += "<section>\n"
          sectionOpen = true
        }
        body += "<h\(level + 1)>\(inline(text))</h\(level + 1)>\n"
      case .paragraph(let text): body += "<p>\(inline(text))</p>\n"
      case .bullets(let items): body += "<ul>" + items.map { "<li>\(inline($0))</li>" }.joined() + "</ul>\n"
      case .steps(let items): body += "<ol>" + items.map { "<li>\(inline($0))</li>" }.joined() + "</ol>\n"
      case .table(let table):
        body += "<table><thead><tr>" + table.header.enumerated().map { "<th\(table.numeric.contains($0) ? " class=\"num\"" : "")>\(escape($1))</th>" }.joined() + "</tr></thead><tbody>"
        for row in table.rows {
          body += "<tr>" + row.enumerated().map { "<td\(table.numeric.contains($0) ? " class=\"num\"" : "")>\(inline($1))</td>" }.joined() + "</tr>"
        }
        body += "</tbody></table>\n"
      case .chart(let chart):
        chartIndex += 1
        body += "<figure>" + SVGChart.render(chart, id: chartIndex) + "<figcaption>\(escape(chart.title))</figcaption></figure>\n"
      }
    }
    if sectionOpen { body += "</section>\n" }
    body += "</main>\n"
    return """
      <!DOCTYPE html>
      <html lang="\(doc.language.rawValue)">
      <head>
      <meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <title>\(escape(doc.title))</title>
      <style>
      body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2433;max-width:1000px;margin:0 auto;padding:24px;line-height:1.45}
      header{border-bottom:3px solid #2f6fdf;margin-bottom:16px}h1{margin:0 0 4px}.subtitle{color:#5a6478;margin:0 0 12px}
      h2{margin-top:32px;border-bottom:1px solid #d9dee8;padding-bottom:4px}h3{margin-top:20px}h4{margin:14px 0 6px}
      table{border-collapse:collapse;margin:10px 0;font-size:14px;width:100%}th,td{border:1px solid #d9dee8;padding:4px 8px;text-align:left}
      th{background:#f2f5fa}.num{text-align:right;font-variant-numeric:tabular-nums}
      figure{margin:16px 0;page-break-inside:avoid}figcaption{font-size:13px;color:#5a6478}svg{max-width:100%;height:auto}
      section{page-break-inside:auto}
      @media print{body{max-width:none;padding:0}h2{page-break-after:avoid}table,figure{page-break-inside:avoid}}
      </style>
      </head>
      <body>
      \(body)</body>
      </html>

      """
  }

  /// HTML text of report text: Markdown escapes of data (`MarkdownText.literal`) removed,
  /// then `&`, `<`, `>` and `"` escaped.
  static func escape(_ text: String) -> String {
    MarkdownText.unescaped(text).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  /// Escapes, then turns **bold** into <strong>.
  /// HTML of a line of report text: `**` toggles bold, a backslash-escaped character
  /// (data, `MarkdownText.literal`) is that character and never markup.
  static func inline(_ text: String) -> String {
    var out = ""
    var bold = false
    var characters = Array(text)[...]
    while let character = characters.first {
      characters = characters.dropFirst()
      if character == "\\", let next = characters.first, MarkdownText.escapable.contains(next) {
        out += escapeCharacter(next)
        characters = characters.dropFirst()
      } else if character == "*", characters.first == "*" {
        out += bold ? "</strong>" : "<strong>"
        bold.toggle()
        characters = characters.dropFirst()
      } else {
        out += escapeCharacter(character)
      }
    }
    if bold { out += "</strong>" }
    return out
  }

  static func escapeCharacter(_ character: Character) -> String {
    switch character {
    case "&": "&amp;"
    case "<": "&lt;"
    case ">": "&gt;"
    case "\"": "&quot;"
    default: String(character)
    }
  }
}

/// Text taken from the data (a tenant's name, customer ids, category names) inside report
/// text, which is Markdown: every character that Markdown could read as markup is escaped,
/// and line breaks become spaces, so that data can never open a heading, a link, an image,
/// raw HTML or a table cell. The HTML renderer removes the escapes.
public enum MarkdownText {
  /// ASCII punctuation that CommonMark lets a backslash escape and that can start markup.
  static let escapable: Set<Character> = ["\\", "`", "*", "_", "[", "]", "<", ">", "#", "!", "|", "~", "&", "-", "+", "="]
  /// Escaped anywhere: the others (`-`, `+`, `=`) only start markup at the start of a line.
  static let escapedAnywhere: Set<Character> = ["\\", "`", "*", "_", "[", "]", "<", ">", "#", "!", "|", "~", "&"]

  /// `text` as literal Markdown.
  public static func literal(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for character in text {
      if character.isNewline || character == "\t" {
        out.append(" ")
      } else {
        if escapedAnywhere.contains(character) || (out.isEmpty && escapable.contains(character)) { out.append("\\") }
        out.append(character)
      }
    }
    return out
  }

  /// `literal`'s escapes removed.
  static func unescaped(_ text: String) -> String {
    guard text.contains("\\") else { return text }
    var out = ""
    var characters = Array(text)[...]
    while let character = characters.first {
      characters = characters.dropFirst()
      if character == "\\", let next = characters.first, escapable.contains(next) {
        out.append(next)
        characters = characters.dropFirst()
      } else {
        out.append(character)
      }
    }
    return out
  }
}

/// Inline SVG charts with axes, labels and legends; no script.
enum SVGChart {
  static let palette = ["#2f6fdf", "#f08c2e", "#2fa86b", "#d64545", "#8a5cd6", "#7a8699", "#17a2b8", "#c4a000"]
  static let width = 720.0
  static let height = 340.0

  static func render(_ chart: Chart, id: Int) -> String {
    let content: String
    switch chart.kind {
    case .bar(let labels, let values, let valueLabels): content = bar(labels: labels, values: values, valueLabels: valueLabels, chart: chart)
    case .histogram(let bins, let series): content = histogram(bins: bins, series: series, chart: chart)
    case .scatter(let points, _, _): content = scatter(points: points, chart: chart)
    case .donuts(let groups, let slices): content = donuts(groups: groups, sliceLabels: slices)
    case .heatmap(let rows, let columns, let values, let labels): content = heatmap(rows: rows, columns: columns, values: values, labels: labels, chart: chart)
    case .lines(let points, let series, let percent): content = lines(points: points, series: series, percent: percent, chart: chart)
    }
    let kind: String
    switch chart.kind {
    case .bar: kind = "bar"
    case .histogram: kind = "histogram"
    case .scatter: kind = "scatter"
    case .donuts: kind = "donut"
    case .heatmap: kind = "heatmap"
    case .lines: kind = "lines"
    }
    let h: Double
    switch chart.kind {
    case .heatmap(let rows, _, _, _): h = Double(rows.count) * 26 + 90
    case .donuts(let groups, _): h = Double((groups.count + 2) / 3) * 220 + 60
    default: h = height
    }
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"\(ReportRenderer.escape(chart.title))\" id=\"chart-\(id)\" data-kind=\"\(kind)\" width=\"\(Int(width))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(width)) \(Int(h))\" font-family=\"system-ui,sans-serif\" font-size=\"12\">\(content)</svg>"
  }

  static func text(_ x: Double, _ y: Double, _ s: String, anchor: String = "middle", size: Int = 12, rotate: Double? = nil, fill: String = "#1d2433") -> String {
    let transform = rotate.map { " transform=\"rotate(\($0) \(fmt(x)) \(fmt(y)))\"" } ?? ""
    return "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" text-anchor=\"\(anchor)\" font-size=\"\(size)\" fill=\"\(fill)\"\(transform)>\(ReportRenderer.escape(s))</text>"
  }

  static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

  /// Axes with a label each, and horizontal grid lines at nice steps of `maxValue`.
  static func axes(maxValue: Double, chart: Chart, plot: (x: Double, y: Double, w: Double, h: Double), percent: Bool = false) -> String {
    var s = "<line x1=\"\(fmt(plot.x))\" y1=\"\(fmt(plot.y + plot.h))\" x2=\"\(fmt(plot.x + plot.w))\" y2=\"\(fmt(plot.y + plot.h))\" stroke=\"#5a6478\"/>"
    s += "<line x1=\"\(fmt(plot.x))\" y1=\"\(fmt(plot.y))\" x2=\"\(fmt(plot.x))\" y2=\"\(fmt(plot.y + plot.h))\" stroke=\"#5a6478\"/>"
    for i in 0...4 {
      let v = maxValue * Double(i) / 4
      let y = plot.y + plot.h - plot.h * Double(i) / 4
      s += "<line x1=\"\(fmt(plot.x))\" y1=\"\(fmt(y))\" x2=\"\(fmt(plot.x + plot.w))\" y2=\"\(fmt(y))\" stroke=\"#e6e9f0\"/>"
      s += text(plot.x - 6, y + 4, percent ? String(format: "%.0f%%", v * 100) : shortNumber(v), anchor: "end", size: 11)
    }
    if !chart.yLabel.isEmpty { s += text(16, plot.y + plot.h / 2, chart.yLabel, rotate: -90) }
    if !chart.xLabel.isEmpty { s += text(plot.x + plot.w / 2, height - 8, chart.xLabel) }
    return s
  }

  static func shortNumber(_ v: Double) -> String {
    if v >= 1_000_000 { return String(format: "%.1fM", v / 1_000_000) }
    if v >= 10_000 { return String(format: "%.0fk", v / 1000) }
    if v >= 100 || v == v.rounded() { return String(format: "%.0f", v) }
    return String(format: "%.2f", v)
  }

  static func bar(labels: [String], values: [Double], valueLabels: [String], chart: Chart) -> String {
    let plot = (x: 70.0, y: 20.0, w: width - 90, h: height - 90)
    let isShare = values.allSatisfy { $0 <= 1 } && values.contains { $0 < 1 && $0 > 0 }
    let maxValue = niceMax(values.max() ?? 1, percent: isShare)
    var s = axes(maxValue: maxValue, chart: chart, plot: plot, percent: isShare)
    let slot = plot.w / Double(max(1, values.count))
    for (i, v) in values.enumerated() {
      let h = maxValue > 0 ? plot.h * v / maxValue : 0
      let x = plot.x + slot * Double(i) + slot * 0.15
      s += "<rect x=\"\(fmt(x))\" y=\"\(fmt(plot.y + plot.h - h))\" width=\"\(fmt(slot * 0.7))\" height=\"\(fmt(max(h, 0.5)))\" fill=\"\(palette[i % palette.count])\"><title>\(ReportRenderer.escape(labels[i])): \(ReportRenderer.escape(valueLabels[i]))</title></rect>"
      s += text(x + slot * 0.35, plot.y + plot.h - h - 4, valueLabels[i], size: 11)
      s += text(x + slot * 0.35, plot.y + plot.h + 16, labels[i], size: 11)
    }
    return s
  }

  static func niceMax(_ v: Double, percent: Bool) -> Double {
    if percent { return min(1, max(0.1, (v * 10).rounded(.up) / 10)) }
    guard v > 0 else { return 1 }
    let magnitude = pow(10, floor(log10(v)))
    for m in [1.0, 2, 2.5, 5, 10] where m * magnitude >= v { return m * magnitude }
    return 10 * magnitude
  }

  static func histogram(bins: [String], series: [(name: String, values: [Double])], chart: Chart) -> String {
    let plot = (x: 70.0, y: 30.0, w: width - 90, h: height - 110)
    let maxValue = niceMax(series.flatMap(\.values).max() ?? 1, percent: false)
    var s = axes(maxValue: maxValue, chart: chart, plot: plot)
    let slot = plot.w / Double(max(1, bins.count))
    let barWidth = slot * 0.8 / Double(max(1, series.count))
    for (k, serie) in series.enumerated() {
      for (i, c) in serie.values.enumerated() {
        let h = plot.h * c / maxValue
        let x = plot.x + slot * Double(i) + slot * 0.1 + barWidth * Double(k)
        s += "<rect x=\"\(fmt(x))\" y=\"\(fmt(plot.y + plot.h - h))\" width=\"\(fmt(barWidth))\" height=\"\(fmt(h))\" fill=\"\(palette[k % palette.count])\"><title>\(ReportRenderer.escape(serie.name)) \(ReportRenderer.escape(bins[i])): \(c == c.rounded() ? String(format: "%.0f", c) : String(format: "%.2f", c))</title></rect>"
      }
    }
    for (i, b) in bins.enumerated() { s += text(plot.x + slot * (Double(i) + 0.5), plot.y + plot.h + 14, b, size: 9, rotate: bins.count > 6 ? -20 : nil) }
    for (k, serie) in series.enumerated() where series.count > 1 {
      let x = plot.x + 10 + Double(k) * 140
      s += "<rect x=\"\(fmt(x))\" y=\"6\" width=\"12\" height=\"12\" fill=\"\(palette[k % palette.count])\"/>" + text(x + 18, 16, serie.name, anchor: "start")
    }
    return s
  }

  static func lines(points: [String], series: [(name: String, values: [Double?])], percent: Bool, chart: Chart) -> String {
    let plot = (x: 70.0, y: 40.0, w: width - 100, h: height - 110)
    let maxValue = niceMax(series.flatMap { $0.values.compactMap { $0 } }.max() ?? 1, percent: percent)
    var s = axes(maxValue: maxValue, chart: chart, plot: plot, percent: percent)
    let step = points.count > 1 ? plot.w / Double(points.count - 1) : 0
    func x(_ i: Int) -> Double { points.count > 1 ? plot.x + step * Double(i) : plot.x + plot.w / 2 }
    for (k, serie) in series.enumerated() {
      let color = palette[k % palette.count]
      // A gap in the values breaks the line: each run of known values is a path of its own.
      var path = ""
      for (i, value) in serie.values.enumerated() {
        guard let v = value else {
          path += " "
          continue
        }
        let y = plot.y + plot.h - plot.h * v / maxValue
        path += (path.isEmpty || path.hasSuffix(" ") ? "M" : "L") + "\(fmt(x(i))),\(fmt(y))"
        let shown = percent ? String(format: "%.1f%%", v * 100) : shortNumber(v)
        s += "<circle cx=\"\(fmt(x(i)))\" cy=\"\(fmt(y))\" r=\"3.5\" fill=\"\(color)\"><title>\(ReportRenderer.escape(serie.name)) \(ReportRenderer.escape(points[i])): \(shown)</title></circle>"
      }
      s += "<path d=\"\(path.trimmingCharacters(in: .whitespaces))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>"
      let lx = plot.x + Double(k % 3) * 215
      let ly = 14.0 + Double(k / 3) * 16
      s += "<rect x=\"\(fmt(lx))\" y=\"\(fmt(ly - 10))\" width=\"12\" height=\"12\" fill=\"\(color)\"/>" + text(lx + 16, ly, String(serie.name.prefix(32)), anchor: "start", size: 11)
    }
    // At most a dozen dates under the axis, evenly spread.
    let every = max(1, (points.count + 11) / 12)
    for (i, p) in points.enumerated() where i % every == 0 || i == points.count - 1 {
      s += text(x(i), plot.y + plot.h + 16, p, size: 10, rotate: points.count > 6 ? -20 : nil)
    }
    return s
  }

  static func scatter(points: [(x: Double, y: Double, size: Double, label: String)], chart: Chart) -> String {
    let plot = (x: 80.0, y: 20.0, w: width - 110, h: height - 90)
    let isShare = points.allSatisfy { $0.y <= 1 }
    let maxY = niceMax(points.map(\.y).max() ?? 1, percent: isShare)
    let maxX = niceMax((points.map(\.x).max() ?? 1) * 1.1, percent: false)
    var s = axes(maxValue: maxY, chart: chart, plot: plot, percent: isShare)
    for i in 0...4 {
      let v = maxX * Double(i) / 4
      s += text(plot.x + plot.w * Double(i) / 4, plot.y + plot.h + 16, shortNumber(v), size: 11)
    }
    for (i, p) in points.enumerated() {
      let cx = plot.x + plot.w * p.x / maxX
      let cy = plot.y + plot.h - plot.h * p.y / maxY
      let r = 5 + 25 * p.size.squareRoot()
      s += "<circle cx=\"\(fmt(cx))\" cy=\"\(fmt(cy))\" r=\"\(fmt(r))\" fill=\"\(palette[i % palette.count])\" fill-opacity=\"0.6\" stroke=\"\(palette[i % palette.count])\"><title>\(ReportRenderer.escape(p.label))</title></circle>"
      s += text(cx, cy - r - 4, p.label, size: 11)
    }
    return s
  }

  static func donuts(groups: [(name: String, shares: [Double])], sliceLabels: [String]) -> String {
    var s = ""
    for (g, group) in groups.enumerated() {
      let cx = 120 + Double(g % 3) * 230, cy = 110 + Double(g / 3) * 220
      var angle = -Double.pi / 2
      for (i, share) in group.shares.enumerated() where share > 0 {
        let end = angle + share * 2 * Double.pi
        let large = share > 0.5 ? 1 : 0
        let (r1, r2) = (80.0, 45.0)
        if share >= 0.9999 {
          s += "<circle cx=\"\(fmt(cx))\" cy=\"\(fmt(cy))\" r=\"\(fmt((r1 + r2) / 2))\" fill=\"none\" stroke=\"\(palette[i % palette.count])\" stroke-width=\"\(fmt(r1 - r2))\"/>"
        } else {
          let p = [(cx + r1 * cos(angle), cy + r1 * sin(angle)), (cx + r1 * cos(end), cy + r1 * sin(end)), (cx + r2 * cos(end), cy + r2 * sin(end)), (cx + r2 * cos(angle), cy + r2 * sin(angle))]
          s += "<path d=\"M\(fmt(p[0].0)),\(fmt(p[0].1)) A80,80 0 \(large) 1 \(fmt(p[1].0)),\(fmt(p[1].1)) L\(fmt(p[2].0)),\(fmt(p[2].1)) A45,45 0 \(large) 0 \(fmt(p[3].0)),\(fmt(p[3].1)) Z\" fill=\"\(palette[i % palette.count])\"><title>\(ReportRenderer.escape(sliceLabels[i])): \(String(format: "%.1f", share * 100))%</title></path>"
        }
        angle = end
      }
      s += text(cx, cy + 100, group.name, size: 12)
    }
    let legendY = Double((groups.count + 2) / 3) * 220 + 30
    for (i, label) in sliceLabels.enumerated() {
      let x = 20 + Double(i % 6) * 115
      let y = legendY + Double(i / 6) * 18
      s += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y - 10))\" width=\"12\" height=\"12\" fill=\"\(palette[i % palette.count])\"/>" + text(x + 16, y, String(label.prefix(16)), anchor: "start", size: 11)
    }
    return s
  }

  static func heatmap(rows: [String], columns: [String], values: [[Double?]], labels: [[String]], chart: Chart) -> String {
    let left = 150.0, top = 40.0
    let cellW = (width - left - 20) / Double(max(1, columns.count)), cellH = 26.0
    var s = text(left + (width - left) / 2, 14, chart.xLabel, size: 12)
    for (j, c) in columns.enumerated() { s += text(left + cellW * (Double(j) + 0.5), top - 6, c, size: 11) }
    for (i, row) in rows.enumerated() {
      s += text(left - 6, top + cellH * (Double(i) + 0.65), row, anchor: "end", size: 11)
      for (j, value) in values[i].enumerated() {
        guard let v = value else { continue }
        let intensity = min(1, max(0, v))
        let color = "rgb(\(Int(245 - 198 * intensity)),\(Int(248 - 137 * intensity)),\(Int(255 - 32 * intensity)))"
        s += "<rect x=\"\(fmt(left + cellW * Double(j)))\" y=\"\(fmt(top + cellH * Double(i)))\" width=\"\(fmt(cellW - 1))\" height=\"\(fmt(cellH - 1))\" fill=\"\(color)\"/>"
        s += text(left + cellW * (Double(j) + 0.5), top + cellH * (Double(i) + 0.65), labels[i][j], size: 10, fill: intensity > 0.55 ? "#ffffff" : "#1d2433")
      }
    }
    return s
  }
}
