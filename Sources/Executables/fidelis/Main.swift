import Client

@main
struct Main {
  static func main() async {
    await Fidelis.main()
  }
}
