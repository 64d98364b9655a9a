package loan

// This file holds the geography the generator draws from: the 50 states and
// DC weighted by their number of business establishments, each with its
// bounding box and a few real cities with their coordinates.

// state is one US state (or DC) as the generator sees it.
type state struct {
	Code string
	// Weight is roughly the state's number of business establishments in
	// thousands (Census County Business Patterns, early 2020s, rounded): the
	// share of applications that come from the state.
	Weight float64
	// The bounding box of the state, in degrees.
	MinLat, MaxLat, MinLon, MaxLon float64
	// Cities are real cities of the state, largest SBA borrower counts first.
	Cities []city
}

// city is a real city with its coordinates.
type city struct {
	Name     string
	Lat, Lon float64
}

// states returns the 50 states and DC, in alphabetical order of their codes.
func states() []state {
	return []state{
		{"AK", 21, 51.2, 71.4, -179.1, -129.9, []city{{"Anchorage", 61.22, -149.90}, {"Fairbanks", 64.84, -147.72}, {"Juneau", 58.30, -134.42}}},
		{"AL", 100, 30.2, 35.0, -88.5, -84.9, []city{{"Birmingham", 33.52, -86.80}, {"Huntsville", 34.73, -86.59}, {"Mobile", 30.69, -88.04}, {"Montgomery", 32.37, -86.30}}},
		{"AR", 65, 33.0, 36.5, -94.6, -89.6, []city{{"Little Rock", 34.75, -92.29}, {"Fayetteville", 36.06, -94.16}, {"Fort Smith", 35.39, -94.40}}},
		{"AZ", 150, 31.3, 37.0, -114.8, -109.0, []city{{"Phoenix", 33.45, -112.07}, {"Tucson", 32.22, -110.97}, {"Scottsdale", 33.49, -111.93}, {"Mesa", 33.42, -111.83}, {"Flagstaff", 35.20, -111.65}}},
		{"CA", 950, 32.5, 42.0, -124.4, -114.1, []city{
			{"Los Angeles", 34.05, -118.24}, {"San Diego", 32.72, -117.16}, {"San Jose", 37.34, -121.89},
			{"San Francisco", 37.77, -122.42}, {"Sacramento", 38.58, -121.49}, {"Irvine", 33.68, -117.83},
			{"Fresno", 36.74, -119.79}, {"Oakland", 37.80, -122.27}, {"Anaheim", 33.84, -117.91},
			{"Riverside", 33.95, -117.40}, {"Santa Ana", 33.75, -117.87}, {"Torrance", 33.84, -118.34},
			{"Bakersfield", 35.37, -119.02}}},
		{"CO", 180, 37.0, 41.0, -109.1, -102.0, []city{{"Denver", 39.74, -104.99}, {"Colorado Springs", 38.83, -104.82}, {"Aurora", 39.73, -104.83}, {"Boulder", 40.01, -105.27}, {"Fort Collins", 40.59, -105.08}}},
		{"CT", 90, 41.0, 42.1, -73.7, -71.8, []city{{"Hartford", 41.76, -72.67}, {"Stamford", 41.05, -73.54}, {"New Haven", 41.31, -72.92}, {"Bridgeport", 41.19, -73.20}}},
		{"DC", 23, 38.79, 39.0, -77.12, -76.91, []city{{"Washington", 38.91, -77.04}}},
		{"DE", 27, 38.4, 39.84, -75.8, -75.0, []city{{"Wilmington", 39.74, -75.55}, {"Dover", 39.16, -75.52}, {"Newark", 39.68, -75.75}}},
		{"FL", 640, 24.5, 31.0, -87.6, -80.0, []city{
			{"Miami", 25.76, -80.19}, {"Orlando", 28.54, -81.38}, {"Tampa", 27.95, -82.46},
			{"Jacksonville", 30.33, -81.66}, {"Fort Lauderdale", 26.12, -80.14}, {"Hialeah", 25.86, -80.28},
			{"Boca Raton", 26.37, -80.13}, {"Sarasota", 27.34, -82.53}, {"Naples", 26.14, -81.79},
			{"Tallahassee", 30.44, -84.28}}},
		{"GA", 260, 30.4, 35.0, -85.6, -80.8, []city{{"Atlanta", 33.75, -84.39}, {"Marietta", 33.95, -84.55}, {"Alpharetta", 34.08, -84.29}, {"Norcross", 33.94, -84.21}, {"Savannah", 32.08, -81.09}, {"Augusta", 33.47, -81.97}}},
		{"HI", 32, 18.9, 22.2, -160.3, -154.8, []city{{"Honolulu", 21.31, -157.86}, {"Kailua", 21.40, -157.74}, {"Hilo", 19.71, -155.08}}},
		{"IA", 85, 40.4, 43.5, -96.6, -90.1, []city{{"Des Moines", 41.59, -93.62}, {"Cedar Rapids", 41.98, -91.67}, {"Davenport", 41.52, -90.58}, {"Sioux City", 42.50, -96.40}}},
		{"ID", 55, 42.0, 49.0, -117.2, -111.0, []city{{"Boise", 43.62, -116.20}, {"Meridian", 43.61, -116.39}, {"Idaho Falls", 43.49, -112.03}, {"Coeur d'Alene", 47.68, -116.78}}},
		{"IL", 320, 37.0, 42.5, -91.5, -87.5, []city{{"Chicago", 41.88, -87.63}, {"Naperville", 41.75, -88.15}, {"Schaumburg", 42.03, -88.08}, {"Rockford", 42.27, -89.09}, {"Springfield", 39.78, -89.65}, {"Peoria", 40.69, -89.59}}},
		{"IN", 150, 37.8, 41.8, -88.1, -84.8, []city{{"Indianapolis", 39.77, -86.16}, {"Fort Wayne", 41.08, -85.14}, {"Carmel", 39.98, -86.12}, {"Evansville", 37.97, -87.57}, {"South Bend", 41.68, -86.25}}},
		{"KS", 75, 37.0, 40.0, -102.1, -94.6, []city{{"Wichita", 37.69, -97.34}, {"Overland Park", 38.98, -94.67}, {"Topeka", 39.05, -95.68}, {"Lawrence", 38.97, -95.24}}},
		{"KY", 95, 36.5, 39.1, -89.6, -81.96, []city{{"Louisville", 38.25, -85.76}, {"Lexington", 38.04, -84.50}, {"Bowling Green", 36.99, -86.44}}},
		{"LA", 110, 29.0, 33.0, -94.0, -89.0, []city{{"New Orleans", 29.95, -90.07}, {"Baton Rouge", 30.45, -91.15}, {"Lafayette", 30.22, -92.02}, {"Shreveport", 32.53, -93.75}}},
		{"MA", 180, 41.2, 42.9, -73.5, -69.9, []city{{"Boston", 42.36, -71.06}, {"Worcester", 42.26, -71.80}, {"Cambridge", 42.37, -71.11}, {"Springfield", 42.10, -72.59}, {"Lowell", 42.63, -71.32}}},
		{"MD", 140, 37.9, 39.7, -79.5, -75.0, []city{{"Baltimore", 39.29, -76.61}, {"Rockville", 39.08, -77.15}, {"Silver Spring", 38.99, -77.03}, {"Frederick", 39.41, -77.41}, {"Annapolis", 38.98, -76.49}}},
		{"ME", 40, 43.1, 47.5, -71.1, -66.9, []city{{"Portland", 43.66, -70.26}, {"Bangor", 44.80, -68.77}, {"Lewiston", 44.10, -70.21}}},
		{"MI", 220, 41.7, 48.3, -90.4, -82.4, []city{{"Detroit", 42.33, -83.05}, {"Grand Rapids", 42.96, -85.67}, {"Troy", 42.61, -83.15}, {"Southfield", 42.47, -83.22}, {"Ann Arbor", 42.28, -83.74}, {"Lansing", 42.73, -84.56}}},
		{"MN", 140, 43.5, 49.4, -97.2, -89.5, []city{{"Minneapolis", 44.98, -93.27}, {"Saint Paul", 44.95, -93.09}, {"Bloomington", 44.84, -93.30}, {"Rochester", 44.02, -92.47}, {"Duluth", 46.79, -92.10}}},
		{"MO", 150, 36.0, 40.6, -95.8, -89.1, []city{{"Saint Louis", 38.63, -90.20}, {"Kansas City", 39.10, -94.58}, {"Springfield", 37.21, -93.29}, {"Columbia", 38.95, -92.33}}},
		{"MS", 60, 30.2, 35.0, -91.7, -88.1, []city{{"Jackson", 32.30, -90.18}, {"Gulfport", 30.37, -89.09}, {"Hattiesburg", 31.33, -89.29}, {"Tupelo", 34.26, -88.70}}},
		{"MT", 40, 44.4, 49.0, -116.1, -104.0, []city{{"Billings", 45.78, -108.50}, {"Missoula", 46.87, -113.99}, {"Bozeman", 45.68, -111.04}, {"Great Falls", 47.50, -111.30}}},
		{"NC", 250, 33.8, 36.6, -84.3, -75.5, []city{{"Charlotte", 35.23, -80.84}, {"Raleigh", 35.78, -78.64}, {"Greensboro", 36.07, -79.79}, {"Durham", 35.99, -78.90}, {"Wilmington", 34.23, -77.94}, {"Asheville", 35.60, -82.55}}},
		{"ND", 25, 45.9, 49.0, -104.1, -96.6, []city{{"Fargo", 46.88, -96.79}, {"Bismarck", 46.81, -100.78}, {"Grand Forks", 47.93, -97.03}, {"Minot", 48.23, -101.30}}},
		{"NE", 55, 40.0, 43.0, -104.1, -95.3, []city{{"Omaha", 41.26, -95.93}, {"Lincoln", 40.81, -96.70}, {"Grand Island", 40.93, -98.34}}},
		{"NH", 38, 42.7, 45.3, -72.6, -70.6, []city{{"Manchester", 42.99, -71.46}, {"Nashua", 42.77, -71.47}, {"Concord", 43.21, -71.54}, {"Portsmouth", 43.07, -70.76}}},
		{"NJ", 250, 38.9, 41.4, -75.6, -73.9, []city{{"Newark", 40.74, -74.17}, {"Jersey City", 40.72, -74.08}, {"Edison", 40.52, -74.41}, {"Paterson", 40.92, -74.17}, {"Cherry Hill", 39.93, -75.03}, {"Trenton", 40.22, -74.76}}},
		{"NM", 45, 31.3, 37.0, -109.1, -103.0, []city{{"Albuquerque", 35.08, -106.65}, {"Santa Fe", 35.69, -105.94}, {"Las Cruces", 32.32, -106.76}}},
		{"NV", 70, 35.0, 42.0, -120.0, -114.0, []city{{"Las Vegas", 36.17, -115.14}, {"Henderson", 36.04, -114.98}, {"Reno", 39.53, -119.81}}},
		{"NY", 540, 40.5, 45.0, -79.8, -71.9, []city{
			{"New York", 40.71, -74.01}, {"Brooklyn", 40.68, -73.94}, {"Bronx", 40.84, -73.86},
			{"Staten Island", 40.58, -74.15}, {"Buffalo", 42.89, -78.88}, {"Rochester", 43.16, -77.61},
			{"Syracuse", 43.05, -76.15}, {"Albany", 42.65, -73.76}}},
		{"OH", 250, 38.4, 42.0, -84.8, -80.5, []city{{"Columbus", 39.96, -83.00}, {"Cleveland", 41.50, -81.69}, {"Cincinnati", 39.10, -84.51}, {"Toledo", 41.65, -83.54}, {"Akron", 41.08, -81.52}, {"Dayton", 39.76, -84.19}}},
		{"OK", 95, 33.6, 37.0, -103.0, -94.4, []city{{"Oklahoma City", 35.47, -97.52}, {"Tulsa", 36.15, -95.99}, {"Edmond", 35.65, -97.48}, {"Norman", 35.22, -97.44}}},
		{"OR", 120, 42.0, 46.3, -124.6, -116.5, []city{{"Portland", 45.52, -122.68}, {"Eugene", 44.05, -123.09}, {"Salem", 44.94, -123.04}, {"Beaverton", 45.49, -122.80}, {"Bend", 44.06, -121.32}}},
		{"PA", 300, 39.7, 42.3, -80.5, -74.7, []city{{"Philadelphia", 39.95, -75.17}, {"Pittsburgh", 40.44, -80.00}, {"Allentown", 40.60, -75.49}, {"Lancaster", 40.04, -76.31}, {"Harrisburg", 40.27, -76.88}, {"Erie", 42.13, -80.09}}},
		{"RI", 30, 41.1, 42.0, -71.9, -71.1, []city{{"Providence", 41.82, -71.41}, {"Warwick", 41.70, -71.42}, {"Cranston", 41.78, -71.44}}},
		{"SC", 120, 32.0, 35.2, -83.4, -78.5, []city{{"Columbia", 34.00, -81.03}, {"Charleston", 32.78, -79.93}, {"Greenville", 34.85, -82.40}, {"Myrtle Beach", 33.69, -78.89}}},
		{"SD", 30, 42.5, 45.9, -104.1, -96.4, []city{{"Sioux Falls", 43.54, -96.73}, {"Rapid City", 44.08, -103.23}, {"Aberdeen", 45.46, -98.49}}},
		{"TN", 140, 35.0, 36.7, -90.3, -81.6, []city{{"Nashville", 36.16, -86.78}, {"Memphis", 35.15, -90.05}, {"Knoxville", 35.96, -83.92}, {"Chattanooga", 35.05, -85.31}, {"Franklin", 35.93, -86.87}}},
		{"TX", 620, 25.8, 36.5, -106.6, -93.5, []city{
			{"Houston", 29.76, -95.37}, {"Dallas", 32.78, -96.80}, {"San Antonio", 29.42, -98.49},
			{"Austin", 30.27, -97.74}, {"Fort Worth", 32.76, -97.33}, {"Plano", 33.02, -96.70},
			{"El Paso", 31.76, -106.49}, {"Arlington", 32.74, -97.11}, {"Sugar Land", 29.62, -95.63},
			{"McAllen", 26.20, -98.23}, {"Lubbock", 33.58, -101.86}}},
		{"UT", 95, 37.0, 42.0, -114.1, -109.0, []city{{"Salt Lake City", 40.76, -111.89}, {"Provo", 40.23, -111.66}, {"Orem", 40.30, -111.69}, {"Ogden", 41.22, -111.97}, {"Saint George", 37.10, -113.58}}},
		{"VA", 210, 36.5, 39.5, -83.7, -75.2, []city{{"Virginia Beach", 36.85, -75.98}, {"Richmond", 37.54, -77.44}, {"Fairfax", 38.85, -77.31}, {"Alexandria", 38.80, -77.05}, {"Norfolk", 36.85, -76.29}, {"Roanoke", 37.27, -79.94}}},
		{"VT", 22, 42.7, 45.0, -73.4, -71.5, []city{{"Burlington", 44.48, -73.21}, {"Rutland", 43.61, -72.97}, {"Montpelier", 44.26, -72.58}}},
		{"WA", 200, 45.5, 49.0, -124.8, -116.9, []city{{"Seattle", 47.61, -122.33}, {"Bellevue", 47.61, -122.20}, {"Spokane", 47.66, -117.43}, {"Tacoma", 47.25, -122.44}, {"Vancouver", 45.64, -122.66}}},
		{"WI", 140, 42.5, 47.1, -92.9, -86.8, []city{{"Milwaukee", 43.04, -87.91}, {"Madison", 43.07, -89.40}, {"Green Bay", 44.51, -88.01}, {"Appleton", 44.26, -88.42}}},
		{"WV", 35, 37.2, 40.6, -82.6, -77.7, []city{{"Charleston", 38.35, -81.63}, {"Huntington", 38.42, -82.45}, {"Morgantown", 39.63, -79.96}, {"Wheeling", 40.06, -80.72}}},
		{"WY", 20, 41.0, 45.0, -111.1, -104.1, []city{{"Cheyenne", 41.14, -104.82}, {"Casper", 42.87, -106.31}, {"Gillette", 44.29, -105.50}, {"Jackson", 43.48, -110.76}}},
	}
}
