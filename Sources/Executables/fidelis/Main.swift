import Client
import ClientTransport

@main
struct Main {
  static func main() async {
    returnLargeBuffersToTheSystem()
    await Fidelis.main()
  }
}
