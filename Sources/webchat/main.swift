print("webchat")
