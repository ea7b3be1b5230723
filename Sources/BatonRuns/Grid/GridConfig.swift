import Foundation

// Moved here from Grid/GridExpansion.swift (BatonCore), unchanged: the grid store keeps configs.

/// One point of the grid: its parameters, its stable id and the argv it runs.
public struct GridConfig: Sendable {
    /// Position in expansion order (0-based): the order configs are queued in.
    public var position: Int
    /// Short hash of the canonical parameters: the same parameters give the same id however
    /// the spec is reordered or extended.
    public var id: String
    /// Parameters in spec order.
    public var params: [(String, GridValue)]
    /// Canonical JSON of the parameters (sorted keys); also what `BATON_CONFIG` holds.
    public var paramsJSON: String
    public var argv: [String]

    public init(position: Int, id: String, params: [(String, GridValue)], paramsJSON: String, argv: [String]) {
        self.position = position
        self.id = id
        self.params = params
        self.paramsJSON = paramsJSON
        self.argv = argv
    }

    /// The parameters as JSON in spec order (what the store keeps and `BATON_CONFIG` holds).
    var orderedJSON: String { GridJSON.orderedObject(params) }

    /// `lr=0.1 bs=32`, for progress lines and tables.
    public var summary: String { params.map { "\($0.0)=\($0.1)" }.joined(separator: " ") }

    /// The id for a set of parameters.
    public static func id(forCanonicalJSON json: String) -> String {
        String(String(GridHash.hash(json), radix: 16).leftPadded(to: 16).prefix(12))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

