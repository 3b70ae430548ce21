import Foundation

/// The profiles of the AWS shared files: the credentials file (`~/.aws/credentials`, sections
/// `[name]`) and the config file (`~/.aws/config`, sections `[default]` and `[profile name]`).
/// A setting in the credentials file wins over the same one in the config file.
///
/// The format, as the AWS CLI and SDKs read it: `name = value` lines under a section;
/// comments are lines starting with `#` or `;`, and ` #`/` ;` after a value or a section
/// header; indented lines after a setting without a value are its sub-settings (those of
/// `s3 =`, say, which are not credentials and are skipped). Other sections of the config file (`[sso-session …]`, `[services …]`)
/// are skipped. A line that is none of these is an error naming the file and line.
struct SharedProfiles: Sendable {
    /// Settings by profile name, then by lowercased setting name.
    private(set) var profiles: [String: [String: String]] = [:]
    /// The files read, or where they were looked for.
    private(set) var files: [String] = []

    /// The files, for messages.
    var describeFiles: String { files.isEmpty ? "no file: no HOME, AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE" : files.joined(separator: ", ") }

    /// The profile the environment names, and the variable that names it: `AWS_PROFILE`, else
    /// `AWS_DEFAULT_PROFILE`; nil when neither is set (the profile is then `default`).
    static func namedProfile(_ environment: [String: String]) -> (name: String, variable: String)? {
        for variable in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"] {
            if let name = environment[variable], !name.isEmpty { return (name, variable) }
        }
        return nil
    }

    /// Reads the files the environment points at: `AWS_SHARED_CREDENTIALS_FILE` and
    /// `AWS_CONFIG_FILE`, else `credentials` and `config` in `$HOME/.aws`. A file that does not
    /// exist is no error (neither is no `HOME`); one that cannot be read or parsed is.
    static func load(environment: [String: String]) throws(DynamoDBError) -> SharedProfiles {
        func path(_ variable: String, _ name: String) -> String? {
            if let path = environment[variable], !path.isEmpty { return expandingHome(path, environment) }
            return environment["HOME"].flatMap { $0.isEmpty ? nil : $0 + "/.aws/" + name }
        }
        var profiles = SharedProfiles()
        // Config first: the credentials file's settings replace its.
        for (variable, name, isConfig) in [("AWS_CONFIG_FILE", "config", true), ("AWS_SHARED_CREDENTIALS_FILE", "credentials", false)] {
            guard let path = path(variable, name) else { continue }
            profiles.files.append(path)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw .invalidConfiguration("cannot read the AWS \(name) file \(path): \(error.localizedDescription)")
            }
            try profiles.merge(text, path: path, isConfig: isConfig)
        }
        return profiles
    }

    private static func expandingHome(_ path: String, _ environment: [String: String]) -> String {
        guard path == "~" || path.hasPrefix("~/"), let home = environment["HOME"], !home.isEmpty else { return path }
        return home + path.dropFirst()
    }

    /// Adds the profiles of one file's `text` (`path` names it in errors).
    mutating func merge(_ text: String, path: String, isConfig: Bool) throws(DynamoDBError) {
        // The section being read; nil before the first one and in sections that are not profiles.
        var profile: String?
        var inSection = false
        // After `name =` with no value, indented lines are its sub-settings (`s3 =` and its
        // `max_concurrent_requests`, say): none of them is a credential.
        var inSubSettings = false
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            func error(_ what: String) -> DynamoDBError { .invalidConfiguration("\(path):\(index + 1): \(what): \(line)") }
            if line.hasPrefix("[") {
                let header = Self.strippingComment(line)
                guard header.hasSuffix("]") else { throw error("a section header must end with ']'") }
                let name = header.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else { throw error("a section needs a name") }
                profile = Self.profileName(ofSection: name, isConfig: isConfig)
                inSection = true
                inSubSettings = false
                if let profile, profiles[profile] == nil { profiles[profile] = [:] }
                continue
            }
            if inSubSettings, rawLine.first?.isWhitespace == true { continue }
            guard inSection else { throw error("a setting before any [section]") }
            guard let equals = line.firstIndex(of: "=") else { throw error("expected 'name = value'") }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            guard !key.isEmpty else { throw error("a setting needs a name") }
            let value = Self.strippingComment(line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces))
            inSubSettings = value.isEmpty
            guard let profile else { continue }
            profiles[profile]?[key] = value
        }
    }

    /// The profile a section holds, or nil for other sections: in the credentials file every
    /// section is a profile; in the config file `[default]` and `[profile NAME]`.
    private static func profileName(ofSection name: String, isConfig: Bool) -> String? {
        guard isConfig else { return name }
        if name == "default" { return name }
        let words = name.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard words.count == 2, words[0] == "profile" else { return nil }
        return words[1].trimmingCharacters(in: .whitespaces)
    }

    /// A value without a trailing ` # comment` or ` ; comment`.
    private static func strippingComment(_ value: String) -> String {
        var previous: Character = " "
        for index in value.indices {
            let character = value[index]
            if character == "#" || character == ";", previous.isWhitespace, index != value.startIndex {
                return value[..<index].trimmingCharacters(in: .whitespaces)
            }
            previous = character
        }
        return value
    }
}
