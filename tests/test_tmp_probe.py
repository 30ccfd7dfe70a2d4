def test_probe(phone, backend):
    print(backend, repr(phone.dial()))
    for k in ["2", "1", "1", "1"]:
        print(repr(phone.press(k)))
