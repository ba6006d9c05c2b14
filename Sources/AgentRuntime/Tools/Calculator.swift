import Foundation

/// Arithmetic for the calculator tool, e.g. `12*(3+4)` is 84.
///
/// A hand-written recursive-descent parser rather than `NSExpression` or an interpreter: the input comes
/// from a model, so it must never reach anything but arithmetic, and each failure names its column.
///
/// Grammar, loosest first:
///
///     expression := term (("+" | "-") term)*
///     term       := signed (("*" | "/" | "%") signed)*
///     signed     := ("+" | "-")* power
///     power      := primary ("^" ("+" | "-")* primary)*      right-associative
///     primary    := number | constant | function "(" expression ("," expression)* ")" | "(" expression ")"
///
/// `^` binds tighter than a leading sign, as in mathematics: `-2^2` is -4 and `2^-1` is 0.5.
public enum Calculator {
    /// The longest expression accepted, in characters.
    public static let maxLength = 1000
    /// The deepest nesting of parentheses (groups and function calls) accepted.
    public static let maxDepth = 64

    /// Evaluates `expression`; the result is always finite.
    public static func evaluate(_ expression: String) throws(CalculatorError) -> Double {
        let characters = Array(expression)
        guard characters.count <= maxLength else { throw .tooLong(column: maxLength + 1) }
        var parser = Parser(characters)
        return try parser.parse()
    }

    /// Formats a result: whole numbers without a fraction (`84`), others with up to 12 significant digits
    /// (`0.333333333333`), which hides binary noise such as `0.1+0.2`.
    public static func format(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return String(format: "%.12g", value)
    }
}

/// Why an expression could not be evaluated. `column` is 1-based and counts characters.
public enum CalculatorError: Error, Sendable, Equatable, CustomStringConvertible {
    case unexpectedCharacter(Character, column: Int)
    case unexpectedEnd(column: Int)
    case missingClosingParenthesis(column: Int)
    case unknownFunction(String, column: Int)
    case unknownConstant(String, column: Int)
    case wrongNumberOfArguments(function: String, count: Int, column: Int)
    case divisionByZero(column: Int)
    case notFinite(column: Int)
    case tooLong(column: Int)
    case tooDeeplyNested(column: Int)

    /// Where the expression went wrong.
    public var column: Int {
        switch self {
        case .unexpectedCharacter(_, let column), .unexpectedEnd(let column), .missingClosingParenthesis(let column),
            .unknownFunction(_, let column), .unknownConstant(_, let column),
            .wrongNumberOfArguments(_, _, let column), .divisionByZero(let column), .notFinite(let column),
            .tooLong(let column), .tooDeeplyNested(let column):
            column
        }
    }

    public var description: String {
        let at = "at column \(column)"
        switch self {
        case .unexpectedCharacter(let character, _): return "unexpected character '\(character)' \(at)"
        case .unexpectedEnd: return "unexpected end of expression \(at)"
        case .missingClosingParenthesis: return "missing ')' \(at)"
        case .unknownFunction(let name, _): return "unknown function '\(name)' \(at)"
        case .unknownConstant(let name, _): return "unknown constant '\(name)' \(at)"
        case .wrongNumberOfArguments(let name, let count, _):
            let expected = Calculator.Function(rawValue: name.lowercased())?.isVariadic == true ? "at least 1" : "1"
            return "wrong number of arguments for '\(name)' \(at): expected \(expected), got \(count)"
        case .divisionByZero: return "division by zero \(at)"
        case .notFinite: return "result is not a finite number \(at)"
        case .tooLong: return "expression is too long \(at) (limit \(Calculator.maxLength) characters)"
        case .tooDeeplyNested: return "expression is too deeply nested \(at) (limit \(Calculator.maxDepth) levels)"
        }
    }
}

extension Calculator {
    enum Function: String {
        case sqrt, abs, round, floor, ceil, ln, log10, sin, cos, tan, min, max

        var isVariadic: Bool { self == .min || self == .max }

        func accepts(_ count: Int) -> Bool { isVariadic ? count >= 1 : count == 1 }

        func apply(_ arguments: [Double]) -> Double {
            let x = arguments[0]
            switch self {
            case .sqrt: return x.squareRoot()
            case .abs: return Swift.abs(x)
            case .round: return x.rounded()
            case .floor: return x.rounded(.down)
            case .ceil: return x.rounded(.up)
            case .ln: return Foundation.log(x)
            case .log10: return Foundation.log10(x)
            case .sin: return Foundation.sin(x)
            case .cos: return Foundation.cos(x)
            case .tan: return Foundation.tan(x)
            case .min: return arguments.reduce(x) { Swift.min($0, $1) }
            case .max: return arguments.reduce(x) { Swift.max($0, $1) }
            }
        }
    }

    /// Evaluates while it parses. Syntax errors throw at once; arithmetic errors (division by zero, overflow)
    /// are kept until the whole expression has parsed, so a malformed expression is reported as malformed.
    /// Only parentheses recurse (bounded by `maxDepth`); runs of signs and `^` are loops, so no input of
    /// 1000 characters can exhaust the stack.
    struct Parser {
        enum Token: Equatable {
            case number(Double), name(String), symbol(Character), end
        }

        let characters: [Character]
        var index = 0
        var token = Token.end
        /// Column of `token`.
        var column = 1
        var depth = 0
        var arithmeticError: CalculatorError?

        init(_ characters: [Character]) { self.characters = characters }

        mutating func parse() throws(CalculatorError) -> Double {
            try advance()
            let value = try expression()
            guard token == .end else { throw unexpected() }
            if let arithmeticError { throw arithmeticError }
            return value
        }

        mutating func expression() throws(CalculatorError) -> Double {
            var value = try term()
            while case .symbol(let op) = token, op == "+" || op == "-" {
                let at = column
                try advance()
                let right = try term()
                value = finite(op == "+" ? value + right : value - right, at)
            }
            return value
        }

        mutating func term() throws(CalculatorError) -> Double {
            var value = try signed()
            while case .symbol(let op) = token, op == "*" || op == "/" || op == "%" {
                let at = column
                try advance()
                let right = try signed()
                if op == "*" {
                    value = finite(value * right, at)
                } else if right == 0 {
                    record(.divisionByZero(column: at))
                    value = .nan
                } else {
                    value = finite(op == "/" ? value / right : value.truncatingRemainder(dividingBy: right), at)
                }
            }
            return value
        }

        mutating func signed() throws(CalculatorError) -> Double {
            let negative = try signs()
            let value = try power()
            return negative ? -value : value
        }

        /// Consumes a run of `+` and `-`; true when they amount to a minus.
        mutating func signs() throws(CalculatorError) -> Bool {
            var negative = false
            while case .symbol(let op) = token, op == "+" || op == "-" {
                if op == "-" { negative.toggle() }
                try advance()
            }
            return negative
        }

        mutating func power() throws(CalculatorError) -> Double {
            // Each exponent carries its own sign and the column of the `^` before it.
            let base = try primary()
            var exponents: [(negative: Bool, value: Double, column: Int)] = []
            while token == .symbol("^") {
                let at = column
                try advance()
                let negative = try signs()
                exponents.append((negative, try primary(), at))
            }
            // Fold from the right: a^-b^c is a^(-(b^c)).
            guard var last = exponents.popLast() else { return base }
            var result = last.negative ? -last.value : last.value
            while let next = exponents.popLast() {
                result = finite(Foundation.pow(next.value, result), last.column)
                if next.negative { result = -result }
                last = next
            }
            return finite(Foundation.pow(base, result), last.column)
        }

        mutating func primary() throws(CalculatorError) -> Double {
            let at = column
            switch token {
            case .number(let value):
                try advance()
                return finite(value, at)
            case .symbol("("):
                try open()
                let value = try expression()
                try close()
                return value
            case .name(let name):
                try advance()
                guard token == .symbol("(") else { return try constant(name, at) }
                guard let function = Function(rawValue: name.lowercased()) else {
                    throw .unknownFunction(name, column: at)
                }
                try open()
                var arguments: [Double] = []
                if token != .symbol(")") {
                    arguments.append(try expression())
                    while token == .symbol(",") {
                        try advance()
                        arguments.append(try expression())
                    }
                }
                try close()
                guard function.accepts(arguments.count) else {
                    throw .wrongNumberOfArguments(function: name, count: arguments.count, column: at)
                }
                return finite(function.apply(arguments), at)
            case .end:
                throw .unexpectedEnd(column: at)
            default:
                throw unexpected()
            }
        }

        func constant(_ name: String, _ at: Int) throws(CalculatorError) -> Double {
            switch name.lowercased() {
            case "pi": return .pi
            case "e": return M_E
            // A function without its "(": point at what stands there instead.
            case let lowercased where Function(rawValue: lowercased) != nil: throw unexpected()
            default: throw .unknownConstant(name, column: at)
            }
        }

        mutating func open() throws(CalculatorError) {
            depth += 1
            guard depth <= Calculator.maxDepth else { throw .tooDeeplyNested(column: column) }
            try advance()
        }

        mutating func close() throws(CalculatorError) {
            guard token == .symbol(")") else { throw .missingClosingParenthesis(column: column) }
            depth -= 1
            try advance()
        }

        func unexpected() -> CalculatorError {
            if token == .end { return .unexpectedEnd(column: column) }
            return .unexpectedCharacter(characters[column - 1], column: column)
        }

        mutating func finite(_ value: Double, _ at: Int) -> Double {
            if !value.isFinite { record(.notFinite(column: at)) }
            return value
        }

        mutating func record(_ error: CalculatorError) {
            if arithmeticError == nil { arithmeticError = error }
        }

        /// Reads the next token into `token` and its column into `column`.
        mutating func advance() throws(CalculatorError) {
            while index < characters.count, characters[index].isWhitespace { index += 1 }
            column = index + 1
            guard index < characters.count else {
                token = .end
                return
            }
            let start = index
            let character = characters[index]
            if isDigit(at: index) || (character == "." && isDigit(at: index + 1)) {
                skipDigits()
                if index < characters.count, characters[index] == "." {
                    index += 1
                    skipDigits()
                }
                // An exponent only when digits follow, so `2e` stays a number then a name.
                if index < characters.count, characters[index] == "e" || characters[index] == "E" {
                    let sign = index + 1 < characters.count && "+-".contains(characters[index + 1]) ? 1 : 0
                    if isDigit(at: index + 1 + sign) {
                        index += 1 + sign
                        skipDigits()
                    }
                }
                // Overflow such as 1e999 parses to infinity and is caught by `finite`.
                token = .number(Double(String(characters[start..<index])) ?? .nan)
            } else if character.isASCII, character.isLetter || character == "_" {
                while index < characters.count, characters[index].isASCII,
                    characters[index].isLetter || characters[index].isNumber || characters[index] == "_"
                {
                    index += 1
                }
                token = .name(String(characters[start..<index]))
            } else if "+-*/%^(),".contains(character) {
                index += 1
                token = .symbol(character)
            } else {
                throw .unexpectedCharacter(character, column: column)
            }
        }

        func isDigit(at position: Int) -> Bool {
            position < characters.count && characters[position].isASCII && characters[position].isNumber
        }

        mutating func skipDigits() {
            while isDigit(at: index) { index += 1 }
        }
    }
}
