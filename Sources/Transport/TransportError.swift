import Glibc

/// A failed system call (System.swift, FastCGI.swift) with its errno, or a setting that cannot work.
package enum TransportError: Error, CustomStringConvertible {
    case system(String, Int32)
    case usage(String)

    /// The errno of a failed call.
    package var code: Int32? {
        if case .system(_, let code) = self { code } else { nil }
    }

    package var description: String {
        switch self {
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .usage(let message): message
        }
    }
}
