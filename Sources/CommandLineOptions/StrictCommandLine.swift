import Foundation

/// A program's command line read strictly into exact strings: every argument is a known `--flag`
/// with its value after it (`--flag value` or `--flag=value`), each flag at most once. Shared by
/// this package's executables (`webchat`, `socketio-conformance`).
///
/// swift-configuration's `CommandLineArgumentsProvider` is not used for this: it splits every
/// value at commas and gathers a repeated flag, or words after a value, into a list, which a read
/// of one string then takes for "not set", so a program silently started with the default (a
/// TLS file path or a Redis password with a comma in it). A program that takes a list splits the
/// value itself.
package struct StrictCommandLine: Sendable {
    /// The flags, without their leading `--`, in the order the usage lists them, each with its help.
    package let options: [(flag: String, help: String)]

    package init(options: [(flag: String, help: String)]) {
        self.options = options
    }

    /// The value of each flag `arguments` (without the program's name) give, by flag name without
    /// `--`; a flag not given has none. Throws for an unknown flag (`-port` with one dash too), a
    /// flag without a value or given twice, and a word that is no flag's value.
    package func parse(_ arguments: [String]) throws(CommandLineError) -> [String: String] {
        let flags = Set(options.map { "--" + $0.flag })
        var values: [String: String] = [:]
        var index = arguments.startIndex
        var previous: String?
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else {
                if argument.hasPrefix("-"), flags.contains("-" + argument.split(separator: "=", maxSplits: 1)[0]) {
                    throw CommandLineError("unknown option \(argument) (did you mean -\(argument)?)")
                }
                let after = previous.map { " after the value of \($0)" } ?? ""
                throw CommandLineError("""
                    unexpected argument '\(argument)'\(after): options are written --name value or --name=value, \
                    and a value with spaces needs quotes
                    """)
            }
            let flag: String
            let value: String
            if let equals = argument.firstIndex(of: "=") {
                flag = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            } else {
                flag = argument
                // A value that starts with -- is most likely the next option: write --flag=--value for one.
                guard index < arguments.endIndex, !arguments[index].hasPrefix("--") else {
                    guard flags.contains(flag) else { throw unknown(flag) }
                    throw CommandLineError("\(flag) needs a value")
                }
                value = arguments[index]
                index += 1
            }
            guard flags.contains(flag) else { throw unknown(flag) }
            guard !value.isEmpty else { throw CommandLineError("\(flag) needs a value") }
            guard values.updateValue(value, forKey: String(flag.dropFirst(2))) == nil else {
                throw CommandLineError("\(flag) is given more than once: give it once")
            }
            previous = flag
        }
        return values
    }

    private func unknown(_ flag: String) -> CommandLineError {
        let meant = Self.closest(to: String(flag.dropFirst(2)), among: options.map(\.flag)).map { " (did you mean --\($0)?)" }
        return CommandLineError("unknown option \(flag)\(meant ?? "")")
    }

    /// The candidate `name` is most likely a misspelling of: the one fewest edits away (a character
    /// added, removed, changed, or two next to each other swapped), if it is at most one edit per
    /// four characters of `name` (at least one) away; nil if none is that close.
    package static func closest(to name: String, among candidates: [String]) -> String? {
        let limit = max(1, name.count / 4)
        let best = candidates.map { (candidate: $0, edits: editDistance(Array(name), Array($0))) }.min { $0.edits < $1.edits }
        guard let best, best.edits <= limit, !name.isEmpty else { return nil }
        return best.candidate
    }

    /// The optimal string alignment distance: insertions, deletions, substitutions and
    /// transpositions of adjacent characters, each one edit.
    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in stride(from: 1, through: a.count, by: 1) {
            for j in stride(from: 1, through: b.count, by: 1) {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }

    /// What `read` makes of this process's arguments (without the program's name), for an
    /// executable's `main`: `--help` or `-h` anywhere prints `usage` and exits 0, and an error
    /// `read` throws is printed as `program: error` and exits with status 2, before anything starts.
    package static func readArguments<Options>(
        program: String, usage: String, _ read: ([String]) throws -> Options
    ) -> Options {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage)
            exit(0)
        }
        do {
            return try read(arguments)
        } catch {
            FileHandle.standardError.write(Data("\(program): \(error)\nRun '\(program) --help' for the options.\n".utf8))
            exit(2)
        }
    }

    /// One line per option, `  --flag  help`, the help starting in one column.
    package var optionLines: String {
        let width = options.map(\.flag.count).max() ?? 0
        return options.map { option in
            "  --\(option.flag)\(String(repeating: " ", count: width - option.flag.count))  \(option.help)\n"
        }.joined()
    }
}

/// A command line ``StrictCommandLine`` refuses, with a message for the operator.
package struct CommandLineError: Error, CustomStringConvertible, Sendable {
    package let description: String

    package init(_ description: String) {
        self.description = description
    }
}
