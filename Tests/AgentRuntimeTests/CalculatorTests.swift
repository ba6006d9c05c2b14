import Foundation
import Testing

@testable import AgentRuntime

@Suite struct CalculatorTests {
    @Test(arguments: [
        ("2+3*4", 14.0), ("2^3^2", 512), ("-2^2", -4), ("(1+2)*3", 9), ("10%4", 2), ("7/2", 3.5),
        ("12*(3+4)", 84), ("10-4-3", 3), ("64/4/2", 8), ("2*3%4", 2), ("2^-1", 0.5), ("(-2)^2", 4),
        ("2^-3^2", 0.001953125), ("--3", 3), ("-+-3", 3), ("+3", 3), ("3*-2", -6), ("-7%3", -1),
    ])
    func precedenceAndAssociativity(expression: String, expected: Double) throws {
        #expect(try Calculator.evaluate(expression) == expected)
    }

    @Test(arguments: [
        ("42", 42.0), ("3.25", 3.25), (".5", 0.5), ("1.", 1), ("1e3", 1000), ("2.5E-2", 0.025), ("1e+2", 100),
        ("  1 +\t2  ", 3),
    ])
    func numbersAndWhitespace(expression: String, expected: Double) throws {
        #expect(try Calculator.evaluate(expression) == expected)
    }

    @Test(arguments: [
        ("sqrt(16)", 4.0), ("abs(-3)", 3), ("round(2.5)", 3), ("round(-2.5)", -3), ("floor(-1.5)", -2),
        ("ceil(1.2)", 2), ("ln(e)", 1), ("log10(1000)", 3), ("sin(0)", 0), ("cos(0)", 1), ("tan(0)", 0),
        ("min(3, 1, 2)", 1), ("max(3,1,2)", 3), ("max(7)", 7), ("sqrt(abs(-16)) + max(1, 2*3)", 10),
        ("SQRT(4)", 2), ("pi", Double.pi), ("2*pi", 2 * Double.pi), ("e", M_E), ("PI", Double.pi),
    ])
    func functionsAndConstants(expression: String, expected: Double) throws {
        #expect(try Calculator.evaluate(expression) == expected)
    }

    @Test func trigonometryIsInRadians() throws {
        #expect(abs(try Calculator.evaluate("sin(pi/2)") - 1) < 1e-12)
        #expect(abs(try Calculator.evaluate("cos(pi)") + 1) < 1e-12)
    }

    @Test(arguments: [
        ("2 + $", CalculatorError.unexpectedCharacter("$", column: 5)),
        ("1+2)", .unexpectedCharacter(")", column: 4)),
        ("2 3", .unexpectedCharacter("3", column: 3)),
        ("1,2", .unexpectedCharacter(",", column: 2)),
        ("1.2.3", .unexpectedCharacter(".", column: 4)),
        ("2*/3", .unexpectedCharacter("/", column: 3)),
        ("sqrt 4", .unexpectedCharacter("4", column: 6)),
        ("", .unexpectedEnd(column: 1)),
        ("   ", .unexpectedEnd(column: 4)),
        ("2 +", .unexpectedEnd(column: 4)),
        ("max(1,", .unexpectedEnd(column: 7)),
        ("(1+2", .missingClosingParenthesis(column: 5)),
        ("(1+2 3", .missingClosingParenthesis(column: 6)),
        ("sqrt(4", .missingClosingParenthesis(column: 7)),
        ("1 + foo(2)", .unknownFunction("foo", column: 5)),
        ("pi(2)", .unknownFunction("pi", column: 1)),
        ("2*x", .unknownConstant("x", column: 3)),
        ("sqrt(1, 2)", .wrongNumberOfArguments(function: "sqrt", count: 2, column: 1)),
        ("1+abs()", .wrongNumberOfArguments(function: "abs", count: 0, column: 3)),
        ("max()", .wrongNumberOfArguments(function: "max", count: 0, column: 1)),
        ("1/0", .divisionByZero(column: 2)),
        ("5 % (2-2)", .divisionByZero(column: 3)),
        ("1/0 + 1/0", .divisionByZero(column: 2)),
        ("10^400", .notFinite(column: 3)),
        ("1e999", .notFinite(column: 1)),
        ("sqrt(-1)", .notFinite(column: 1)),
        ("1 + ln(0)", .notFinite(column: 5)),
        ("2^2^2^2^2", .notFinite(column: 2)),
    ])
    func errorsNameTheirColumn(expression: String, error: CalculatorError) {
        #expect(throws: error) { try Calculator.evaluate(expression) }
    }

    @Test func aSyntaxErrorWinsOverAnEarlierArithmeticError() {
        #expect(throws: CalculatorError.missingClosingParenthesis(column: 9)) {
            try Calculator.evaluate("1/0 + (2")
        }
    }

    @Test func descriptionsArePlain() {
        #expect(
            CalculatorError.unexpectedCharacter("x", column: 5).description == "unexpected character 'x' at column 5")
        #expect(CalculatorError.missingClosingParenthesis(column: 5).description == "missing ')' at column 5")
        #expect(CalculatorError.unknownFunction("foo", column: 1).description == "unknown function 'foo' at column 1")
        #expect(
            CalculatorError.wrongNumberOfArguments(function: "sqrt", count: 2, column: 1).description
                == "wrong number of arguments for 'sqrt' at column 1: expected 1, got 2")
        #expect(
            CalculatorError.wrongNumberOfArguments(function: "max", count: 0, column: 1).description
                == "wrong number of arguments for 'max' at column 1: expected at least 1, got 0")
        #expect(CalculatorError.divisionByZero(column: 2).description == "division by zero at column 2")
        #expect(CalculatorError.notFinite(column: 3).description == "result is not a finite number at column 3")
        #expect(CalculatorError.tooLong(column: 1001).description.hasPrefix("expression is too long"))
        #expect(CalculatorError.tooDeeplyNested(column: 65).column == 65)
    }

    @Test func lengthIsLimitedTo1000Characters() throws {
        let longest = "10" + String(repeating: "+1", count: 499)
        #expect(longest.count == 1000)
        #expect(try Calculator.evaluate(longest) == 509)
        #expect(throws: CalculatorError.tooLong(column: 1001)) { try Calculator.evaluate(longest + " ") }
    }

    @Test func nestingIsLimitedTo64Levels() throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "(", count: depth) + "1" + String(repeating: ")", count: depth)
        }
        #expect(try Calculator.evaluate(nested(64)) == 1)
        #expect(throws: CalculatorError.tooDeeplyNested(column: 65)) { try Calculator.evaluate(nested(65)) }
        // Function calls count as nesting too.
        let calls = String(repeating: "abs(", count: 65) + "1" + String(repeating: ")", count: 65)
        #expect(throws: CalculatorError.tooDeeplyNested(column: 260)) { try Calculator.evaluate(calls) }
        // Siblings do not add up.
        #expect(try Calculator.evaluate(nested(64) + "+" + nested(64)) == 2)
    }

    @Test func longRunsOfSignsAndPowersDoNotRecurse() throws {
        #expect(try Calculator.evaluate(String(repeating: "-", count: 998) + "1") == 1)
        #expect(try Calculator.evaluate("1" + String(repeating: "^1", count: 499)) == 1)
    }

    @Test(arguments: [
        (84.0, "84"), (-3, "-3"), (0, "0"), (-0.0, "0"), (3.5, "3.5"), (1.0 / 3, "0.333333333333"),
        (0.1 + 0.2, "0.3"), (2.0 / 3, "0.666666666667"), (1e20, "1e+20"), (123_456_789_012, "123456789012"),
    ] as [(Double, String)])
    func format(value: Double, expected: String) {
        #expect(Calculator.format(value) == expected)
    }

    @Test func evaluateThenFormat() throws {
        #expect(Calculator.format(try Calculator.evaluate("12*(3+4)")) == "84")
        #expect(Calculator.format(try Calculator.evaluate("1/3")) == "0.333333333333")
    }
}
