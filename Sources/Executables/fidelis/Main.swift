import Client
import Networking

@main
struct Main {
  static func main() async {
    returnLargeBuffersToTheSystem()
    await Fidelis.main(Fidelis.connectionOptionsLast(Array(CommandLine.arguments.dropFirst())))
  }
}
