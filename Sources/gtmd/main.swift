print("gtmd")
